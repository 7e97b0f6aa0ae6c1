from datetime import datetime, timedelta
from dataclasses import dataclass, field
import heapq


@dataclass(order=True)
class Event:
    when: datetime
    name: str = field(compare=False)
    repeat: timedelta = field(default=None, compare=False)


class Scheduler:
    def __init__(self):
        self.queue = []

    def add(self, event):
        heapq.heappush(self.queue, event)

    def run_until(self, end):
        fired = []
        while self.queue and self.queue[0].when <= end:
            ev = heapq.heappop(self.queue)
            fired.append(f"{ev.when:%a %H:%M} {ev.name}")
            if ev.repeat:
                self.add(Event(ev.when + ev.repeat, ev.name, ev.repeat))
        return fired


start = datetime(2024, 4, 1, 9, 0)
s = Scheduler()
s.add(Event(start, "standup", timedelta(days=1)))
s.add(Event(start + timedelta(hours=3), "lunch"))
s.add(Event(start + timedelta(minutes=30), "coffee", timedelta(hours=4)))
for line in s.run_until(start + timedelta(days=2)):
    print(line)
print(len(s.queue))
