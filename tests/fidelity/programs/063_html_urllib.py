import html
from urllib.parse import urlparse, urlencode, quote, unquote, parse_qs, urljoin, quote_plus

print(html.escape('<a href="x">Tom & Jerry</a>'), html.unescape("&lt;p&gt; &amp; &copy; &#233;"))
url = "https://user@example.com:8080/path/to/page.html?q=python+sandbox&page=2#section"
p = urlparse(url)
print(p.scheme, p.netloc, p.hostname, p.port, p.path, p.query, p.fragment)
print(parse_qs(p.query), urlencode({"q": "a b&c", "n": 3}), urlencode([("x", 1), ("x", 2)]))
print(quote("hello world/ü"), quote_plus("a b+c"), unquote("caf%C3%A9"))
print(urljoin("http://example.com/a/b.html", "../c.html"), p._replace(query="").geturl())
