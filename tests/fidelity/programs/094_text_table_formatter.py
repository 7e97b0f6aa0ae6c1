def table(rows, headers):
    cols = list(zip(headers, *rows))
    widths = [max(len(str(v)) for v in col) for col in cols]
    numeric = [all(isinstance(v, (int, float)) for v in col[1:]) for col in cols]

    def fmt(row):
        cells = []
        for v, w, num in zip(row, widths, numeric):
            cells.append(str(v).rjust(w) if num else str(v).ljust(w))
        return "| " + " | ".join(cells) + " |"

    sep = "+-" + "-+-".join("-" * w for w in widths) + "-+"
    lines = [sep, fmt(headers), sep] + [fmt(r) for r in rows] + [sep]
    return "\n".join(lines)


data = [("Python", 1991, 3.12), ("Rust", 2015, 1.76), ("Go", 2009, 1.22), ("C", 1972, 17)]
print(table(data, ("Language", "Year", "Version")))
print(table(sorted(data, key=lambda r: r[1]), ("Language", "Year", "Version")).splitlines()[3])
