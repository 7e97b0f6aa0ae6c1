"""Built-in extensions, registered through the same hooks as third-party ones."""
