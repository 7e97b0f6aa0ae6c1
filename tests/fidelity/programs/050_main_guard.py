def parse_args(argv):
    opts = {"verbose": False, "count": 1}
    for a in argv:
        if a == "-v":
            opts["verbose"] = True
        elif a.startswith("--count="):
            opts["count"] = int(a.split("=", 1)[1])
    return opts


def main(argv=None):
    opts = parse_args(argv or ["-v", "--count=3"])
    for i in range(opts["count"]):
        print(f"run {i + 1}" + (" (verbose)" if opts["verbose"] else ""))
    return 0


if __name__ == "__main__":
    status = main()
    print("exit status", status)
print(__name__)
