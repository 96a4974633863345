#!/usr/bin/env python3
"""The transcripts benchmark (scripts/bench-transcripts.sh): word error rate of the
shipped engine's draft on Debian's LibriVox clips (pocketsphinx-testdata) against their
reference texts, and speed in multiples of real time, with pocketsphinx as the baseline
in the same run. Normalisation before scoring: lower case, punctuation dropped,
"mr"/"mrs" spelt out as the references spell them."""
import re
import subprocess
import sys
import time
import wave

DATA = "/usr/share/pocketsphinx/test/data/librivox"
PS_MODEL = "/usr/share/pocketsphinx/model/en-us"


def references():
    out = {}
    for line in open(f"{DATA}/transcription"):
        m = re.match(r"<s> (.*) </s> \((.*)\)", line.strip())
        if m:
            out[m.group(2)] = m.group(1)
    return out


def words(text):
    text = text.lower().replace("-", " ")
    text = re.sub(r"[^a-z' ]", " ", text)
    spelt = {"mr": "mister", "mrs": "missus"}
    return [spelt.get(w, w) for w in text.split()]


def errors(ref, hyp):
    d = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, d[0] = d[0], i
        for j, h in enumerate(hyp, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (r != h))
    return d[len(hyp)]


def seconds(path):
    with wave.open(path) as w:
        return w.getnframes() / w.getframerate()


def vtt_text(vtt):
    return " ".join(l for l in vtt.splitlines() if l and "-->" not in l and l != "WEBVTT")


def main(python, script, model):
    refs = references()
    rows = {"engine": [0, 0, 0.0], "pocketsphinx": [0, 0, 0.0]}
    audio = 0.0
    for clip, ref in sorted(refs.items()):
        path = f"{DATA}/{clip}.wav"
        audio += seconds(path)
        ref_words = words(ref)
        t = time.monotonic()
        vtt = subprocess.run([python, script, path, model, "en"], check=True, capture_output=True, text=True).stdout
        engine_s = time.monotonic() - t
        t = time.monotonic()
        ps = subprocess.run(
            ["pocketsphinx_continuous", "-infile", path, "-hmm", f"{PS_MODEL}/en-us",
             "-lm", f"{PS_MODEL}/en-us.lm.bin", "-dict", f"{PS_MODEL}/cmudict-en-us.dict", "-logfn", "/dev/null"],
            check=True, capture_output=True, text=True).stdout
        ps_s = time.monotonic() - t
        for name, hyp, took in (("engine", vtt_text(vtt), engine_s), ("pocketsphinx", ps, ps_s)):
            row = rows[name]
            row[0] += errors(ref_words, words(hyp))
            row[1] += len(ref_words)
            row[2] += took
            print(f"{clip} {name:12} {took:5.2f} s  {' '.join(words(hyp))}", file=sys.stderr)
    # One longer recording (the five clips joined by sox): the model load is paid once.
    joined = "/tmp/tellus-bench-transcripts-joined.wav"
    subprocess.run(["sox"] + [f"{DATA}/{c}.wav" for c in sorted(refs)] + [joined], check=True)
    t = time.monotonic()
    vtt = subprocess.run([python, script, joined, model, "en"], check=True, capture_output=True, text=True).stdout
    joined_s = time.monotonic() - t
    ref_all = [w for c in sorted(refs) for w in words(refs[c])]
    joined_errs = errors(ref_all, words(vtt_text(vtt)))
    print(f"clips: {len(refs)}, audio: {audio:.1f} s")
    print("| engine | WER | time | speed (x real time) |")
    print("| --- | --- | --- | --- |")
    for name, label in (("engine", "faster-whisper tiny.en int8 (shipped, one process per job)"), ("pocketsphinx", "pocketsphinx en-us (baseline)")):
        errs, n, took = rows[name]
        print(f"| {label} | {100 * errs / n:.1f} % ({errs}/{n} words) | {took:.1f} s | {audio / took:.2f}x |")
    n = len(ref_all)
    print(f"| faster-whisper, the five clips as one {audio:.0f} s recording | {100 * joined_errs / n:.1f} % ({joined_errs}/{n} words) | {joined_s:.1f} s | {audio / joined_s:.2f}x |")


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
