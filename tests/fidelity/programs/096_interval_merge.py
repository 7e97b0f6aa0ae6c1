def merge(intervals):
    out = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return out


def free_slots(busy, day_start=9, day_end=17):
    slots, cur = [], day_start
    for s, e in merge(busy):
        if s > cur:
            slots.append((cur, s))
        cur = max(cur, e)
    if cur < day_end:
        slots.append((cur, day_end))
    return slots


meetings = [(9, 10), (13, 15), (9.5, 11), (14, 14.5), (16, 16.5)]
print(merge(meetings))
print(free_slots(meetings))
print(merge([(1, 4), (4, 5)]), merge([]), merge([(5, 6), (1, 2)]))
