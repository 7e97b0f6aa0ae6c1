from enum import Enum


class State(Enum):
    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


TRANSITIONS = {
    (State.IDLE, "start"): State.RUNNING,
    (State.RUNNING, "pause"): State.PAUSED,
    (State.PAUSED, "resume"): State.RUNNING,
    (State.RUNNING, "stop"): State.STOPPED,
    (State.PAUSED, "stop"): State.STOPPED,
}


class Machine:
    def __init__(self):
        self.state = State.IDLE
        self.history = [self.state]

    def send(self, event):
        key = (self.state, event)
        if key not in TRANSITIONS:
            raise RuntimeError(f"cannot {event} while {self.state.value}")
        self.state = TRANSITIONS[key]
        self.history.append(self.state)
        return self


m = Machine()
m.send("start").send("pause").send("resume")
try:
    m.send("start")
except RuntimeError as e:
    print("error:", e)
m.send("stop")
print(" -> ".join(s.value for s in m.history), m.state is State.STOPPED)
