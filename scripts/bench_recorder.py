#!/usr/bin/env python3
"""The recorder's benchmarks, driven by scripts/bench-recorder.sh (which builds the release
binary, starts a private PulseAudio and makes the speech). Standard library only.

  cpu   TELLUS RATE SECONDS SPEECH   the whole process CPU of `tellus record` and of
                                     `arecord` on the real-time PulseAudio microphone,
                                     one after the other in this run, while speech plays
  kill  TELLUS RATE KILLS SPEECH     SIGKILL at random moments (first second of audio,
                                     recording, paused, within 50 ms after stop); the next
                                     open recovers; the loss is what the recorder had
                                     captured by the kill and the store does not hold
  freeze TELLUS RATE SPEECH          stop while the sound server is frozen (SIGSTOP): how
                                     long `q` takes to end the process
"""

import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

DEVICE = "tellus_pulse_mic"


def speaker(speech):
    """Plays the speech into the null sink in a loop, until stopped."""
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            p = subprocess.Popen(
                ["paplay", f"--server={os.environ['TELLUS_PULSE_SERVER']}", "--device=tellus_sink", speech],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            while p.poll() is None:
                if stop.wait(0.2):
                    p.kill()
            p.wait()

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    return stop


def data_dir(tellus):
    d = tempfile.mkdtemp(prefix="tellus-bench-rec-")
    subprocess.run([tellus, "--data-dir", d, "project", "init"], check=True, capture_output=True)
    return d


def new_story(tellus, d):
    out = subprocess.run(
        [tellus, "--data-dir", d, "--json", "story", "new", "--title", "Bench", "--storyteller", "P"],
        check=True,
        capture_output=True,
    )
    return json.loads(out.stdout)["id"]


def process_cpu(argv, seconds):
    """Runs argv to its end; returns (CPU seconds of the whole process, wall seconds)."""
    started = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.monotonic() - started
    if status != 0:
        sys.exit(f"{argv[0]} failed ({status})")
    return usage.ru_utime + usage.ru_stime, wall


def cpu(tellus, rate, seconds, speech):
    d = data_dir(tellus)
    story = new_story(tellus, d)
    stop = speaker(speech)
    try:
        ours = process_cpu(
            [tellus, "--data-dir", d, "record", "--story", story, "--device", DEVICE,
             "--rate", str(rate), "--for", f"{seconds}s"],
            seconds,
        )
        wav = os.path.join(d, "arecord.wav")
        theirs = process_cpu(
            ["arecord", "-q", "-D", DEVICE, "-f", "S16_LE", "-r", str(rate), "-c", "1", "-d", str(seconds), wav],
            seconds,
        )
    finally:
        stop.set()
    pct = lambda c: 100.0 * c[0] / c[1]
    print(json.dumps({
        "rate": rate,
        "seconds": seconds,
        "tellus_cpu_s": round(ours[0], 3),
        "tellus_wall_s": round(ours[1], 2),
        "tellus_pct": round(pct(ours), 3),
        "arecord_cpu_s": round(theirs[0], 3),
        "arecord_wall_s": round(theirs[1], 2),
        "arecord_pct": round(pct(theirs), 3),
        "ratio": round(pct(ours) / max(pct(theirs), 1e-9), 2),
    }))


class Live:
    """`tellus --json record` running, its status lines read as they come."""

    def __init__(self, tellus, d, story, rate):
        self.rate = rate
        self.p = subprocess.Popen(
            [tellus, "--data-dir", d, "--json", "record", "--story", story, "--device", DEVICE,
             "--rate", str(rate), "--for", "60s"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.last = None  # (time read, status stats)
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.p.stdout:
            v = json.loads(line)
            if v.get("event") == "status":
                with self.lock:
                    self.last = (time.monotonic(), v["stats"])

    def status(self):
        with self.lock:
            return self.last

    def until(self, condition, limit=60):
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            s = self.status()
            if s and condition(s[1]):
                return s
            time.sleep(0.005)
        raise SystemExit("the recording never got there")

    def send(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()

    def captured_ms_at(self, when):
        """What the recorder had captured at `when`: the last status, plus the time since
        it while recording (an overestimate by up to a period: the loss is not flattered)."""
        at, stats = self.status()
        ms = stats["position"]
        if not stats["paused"] and stats["position"] > 0:
            ms += max(0.0, when - at) * 1000
        return ms


def recorded_ms(tellus, d, story):
    out = subprocess.run([tellus, "--data-dir", d, "--json", "story", "show", story], capture_output=True, text=True)
    recordings = json.loads(out.stdout)["recordings"]
    return sum(r["frames"] * 1000 / r["sample_rate"] for r in recordings), recordings, out.stderr


def kill(tellus, rate, kills, speech):
    d = data_dir(tellus)
    stop = speaker(speech)
    rng = random.Random(int(os.environ.get("TELLUS_BENCH_SEED", "17")))
    moments = ["first second", "recording", "paused", "after stop"]
    results = []
    try:
        for n in range(kills):
            moment = moments[n % len(moments)]
            story = new_story(tellus, d)
            live = Live(tellus, d, story, rate)
            first = live.until(lambda s: s["position"] > 0)[0]
            if moment == "first second":
                time.sleep(max(0.0, first + rng.uniform(0.0, 1.0) - time.monotonic()))
                killed_at = time.monotonic()
            elif moment == "recording":
                time.sleep(rng.uniform(1.0, 4.0))
                killed_at = time.monotonic()
            elif moment == "paused":
                time.sleep(rng.uniform(0.5, 2.0))
                live.send("p")
                live.until(lambda s: s["paused"])
                time.sleep(rng.uniform(0.0, 1.5))
                killed_at = time.monotonic()
            else:
                time.sleep(rng.uniform(0.5, 3.0))
                asked = time.monotonic()
                live.send("q")
                time.sleep(rng.uniform(0.0, 0.05))
                killed_at = asked  # nothing after `q` was meant to be kept
            captured = live.captured_ms_at(killed_at)
            live.p.send_signal(signal.SIGKILL)
            live.p.wait()
            kept, recordings, notes = recorded_ms(tellus, d, story)
            loss = max(0.0, captured - kept)
            results.append((moment, loss, captured, kept))
            state = recordings[0]["state"] if recordings else "nothing kept"
            print(f"kill {n + 1:2}: {moment:12} captured {captured:7.0f} ms, kept {kept:7.0f} ms ({state}), lost {loss:5.0f} ms",
                  flush=True)
    finally:
        stop.set()
    summary = {}
    for moment in moments:
        losses = [r[1] for r in results if r[0] == moment]
        summary[moment] = {"kills": len(losses), "worst_ms": round(max(losses)), "median_ms": round(statistics.median(losses))}
    print(json.dumps({"rate": rate, "kills": len(results), "worst_ms": round(max(r[1] for r in results)), "by_moment": summary}))


def freeze(tellus, rate, speech):
    d = data_dir(tellus)
    story = new_story(tellus, d)
    stop = speaker(speech)
    pid = int(open(os.path.join(os.environ["TELLUS_PULSE_DIR"], "pulse.pid")).read())
    try:
        live = Live(tellus, d, story, rate)
        live.until(lambda s: s["position"] >= 2000)
        os.kill(pid, signal.SIGSTOP)
        try:
            # The stall is noticed after 4 s; a restart then waits on the frozen server.
            live.until(lambda s: s["stream_errors"] >= 1, limit=30)
            time.sleep(2)
            asked = time.monotonic()
            live.send("q")
            live.p.wait()
            took = time.monotonic() - asked
        finally:
            os.kill(pid, signal.SIGCONT)
    finally:
        stop.set()
    kept, recordings, _ = recorded_ms(tellus, d, story)
    print(json.dumps({"rate": rate, "stop_while_frozen_ms": round(took * 1000), "kept_ms": round(kept),
                      "state": recordings[0]["state"] if recordings else None}))


if __name__ == "__main__":
    what, tellus, rate = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if what == "cpu":
        cpu(tellus, rate, int(sys.argv[4]), sys.argv[5])
    elif what == "kill":
        kill(tellus, rate, int(sys.argv[4]), sys.argv[5])
    elif what == "freeze":
        freeze(tellus, rate, sys.argv[4])
    else:
        sys.exit(__doc__)
