#!/usr/bin/env bash
# The data saver benchmark (issue 20; not part of ./scripts/test.sh). In one run, on real
# recorded speech (pocketsphinx-testdata's LibriVox clips) and generated speech
# (espeak-ng), all brought to 48 kHz 16-bit mono WAV as the recorder writes:
#  1. bytes against the WAV: our FLAC (tellus-media) vs `flac -8`; our Opus listening
#     copy (20 kbit/s) vs `opusenc --bitrate 20`;
#  2. encode speed in multiples of real time on one core (taskset -c 0, CPU time) for
#     ours, `flac -8`, `flac` (-5) and `opusenc`, on a 60-minute recording made by
#     concatenating the speech; ours includes hashing the PCM and the written file;
#  3. peak RSS (/usr/bin/time) encoding and verifying the 60-minute recording;
#  4. pocketsphinx's word error rate against the reference texts on the WAV (16 kHz), on
#     our Opus copy and on opusenc's (both decoded with opusdec to 16 kHz).
# Conversions are not dithered (sox -D), so that runs are repeatable.
# Usage: scripts/bench-data-saver.sh [MINUTES=60]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
minutes=${1:-60}
cargo build -q --locked --release -p tellus-media --example data_saver
ours="${CARGO_TARGET_DIR:-target}/release/examples/data_saver"
librivox=/usr/share/pocketsphinx/test/data/librivox

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/ref16" "$work/wav48" "$work/out"

# The corpus: each utterance as a 16 kHz reference (what pocketsphinx hears) and a 48 kHz
# recording; the reference words beside it.
while read -r line; do
  id=$(sed -E 's/.*\((.*)\)$/\1/' <<<"$line")
  sed -E 's/<s> (.*) <\/s>.*/\1/' <<<"$line" >"$work/ref16/$id.txt"
  cp "$librivox/$id.wav" "$work/ref16/$id.wav"
done <"$librivox/transcription"
n=0
while read -r sentence; do
  n=$((n + 1))
  id=$(printf 'espeak-%02d' "$n")
  tr 'A-Z' 'a-z' <<<"$sentence" | tr -d '.,?!' >"$work/ref16/$id.txt"
  espeak-ng -v en-us -s 150 -w "$work/espeak.wav" "$sentence"
  sox -D "$work/espeak.wav" -r 16000 -b 16 -c 1 "$work/ref16/$id.wav"
done <<'TEXT'
The storyteller spoke about the river and the long dry season.
We recorded the interview in the village hall after the market closed.
Her grandmother planted maize and beans on the hill behind the school.
The water came back in the evening and the children ran to the well.
Every story belongs to the person who tells it.
The reporter asked how the road changed the life of the town.
TEXT
for w in "$work"/ref16/*.wav; do
  sox -D "$w" -r 48000 -b 16 -c 1 "$work/wav48/$(basename "$w")"
done
sox "$work"/wav48/sense*.wav "$work/librivox48.wav"
sox "$work"/wav48/espeak*.wav "$work/espeak48.wav"
sox "$work"/ref16/sense*.wav "$work/librivox16.wav"
# The long recording: all the speech, repeated, cut at exactly MINUTES.
sox "$work"/wav48/*.wav "$work/all48.wav"
reps=$(python3 -c "import sys; print(int($minutes*60 / float(sys.argv[1])) + 1)" "$(soxi -D "$work/all48.wav")")
sox "$work/all48.wav" "$work/long.wav" repeat "$reps" trim 0 "$((minutes * 60))"

bytes() { stat -c %s "$1"; }
seconds() { soxi -D "$1"; }
# Runs a command on CPU 0 under /usr/bin/time; prints "cpu_seconds peak_rss_kb".
measure() {
  taskset -c 0 /usr/bin/time -f '%U %S %M' -o "$work/time" "$@" >/dev/null 2>"$work/err" || {
    cat "$work/err" >&2
    return 1
  }
  awk '{ printf "%.3f %d\n", $1 + $2, $3 }' "$work/time"
}

echo "## sizes (bytes vs the WAV)"
printf '%-22s %10s %12s %12s %8s %8s %12s %12s %8s %8s\n' file seconds wav_bytes ours_flac ours_x flac8_x ours_opus opusenc ours_x opusenc_x
for f in librivox16 librivox48 espeak48 long; do
  w="$work/$f.wav"
  "$ours" flac "$w" "$work/out/$f.flac" >"$work/out/$f.flac.txt"
  flac -8 -s -f -o "$work/out/$f.8.flac" "$w"
  "$ours" opus "$w" "$work/out/$f.opus" >/dev/null
  opusenc --quiet --bitrate 20 "$w" "$work/out/$f.enc.opus"
  wb=$(bytes "$w")
  python3 - "$f" "$(seconds "$w")" "$wb" "$(bytes "$work/out/$f.flac")" "$(bytes "$work/out/$f.8.flac")" \
    "$(bytes "$work/out/$f.opus")" "$(bytes "$work/out/$f.enc.opus")" <<'PY'
import sys
f, s, w, fo, f8, oo, oe = sys.argv[1], float(sys.argv[2]), *map(int, sys.argv[3:])
print(f"{f:<22} {s:10.1f} {w:12d} {fo:12d} {fo/w:8.4f} {f8/w:8.4f} {oo:12d} {oe:12d} {oo/w:8.4f} {oe/w:8.4f}   ours/flac-8 = {fo/f8:.4f}")
PY
done
long="$work/long.wav"
flac -t -s "$work/out/long.flac"
test "$(flac -d -s --force-raw-format --endian=little --sign=signed -c "$work/out/long.flac" | sha256sum | cut -d' ' -f1)" \
  = "$(cut -d' ' -f2 "$work/out/long.flac.txt")"
echo "flac -t passes and flac -d gives the PCM identity of the ${minutes}-minute FLAC"
opusinfo "$work/out/long.opus" | grep -E 'Playback length|Pre-skip'

echo
echo "## encode speed on one core (CPU 0), ${minutes}-minute recording ($(bytes "$long") bytes)"
dur=$(seconds "$long")
printf '%-28s %10s %12s %14s\n' encoder cpu_s x_realtime peak_rss_MB
row() { # NAME cmd...
  local name=$1; shift
  read -r cpu rss < <(measure "$@")
  python3 - "$name" "$dur" "$cpu" "$rss" <<'PY'
import sys
n, d, c, r = sys.argv[1], *map(float, sys.argv[2:])
print(f"{n:<28} {c:10.2f} {d/max(c,0.001):12.0f} {r/1024:14.1f}")
PY
}
row "ours flac (tellus-media)" "$ours" flac "$long" "$work/out/s.flac"
row "flac -8" flac -8 -s -f -o "$work/out/s8.flac" "$long"
row "flac (-5, default)" flac -s -f -o "$work/out/s5.flac" "$long"
row "ours verify_flac" "$ours" verify-flac "$work/out/s.flac" "$long"
row "flac -t" flac -t -s "$work/out/s.flac"
row "ours opus 20 kbit/s" "$ours" opus "$long" "$work/out/s.opus"
row "opusenc --bitrate 20" opusenc --quiet --bitrate 20 "$long" "$work/out/s.enc.opus"
row "ours verify_opus" "$ours" verify-opus "$work/out/s.opus" "$long"

echo
echo "## pocketsphinx word error rate (decoded to 16 kHz with opusdec)"
hyp() { pocketsphinx_continuous -infile "$1" -logfn /dev/null 2>/dev/null | tr '\n' ' '; }
: >"$work/wer.tsv"
for ref in "$work"/ref16/*.txt; do
  id=$(basename "$ref" .txt)
  "$ours" opus "$work/wav48/$id.wav" "$work/out/$id.opus" >/dev/null
  opusenc --quiet --bitrate 20 "$work/wav48/$id.wav" "$work/out/$id.enc.opus"
  opusdec --quiet --rate 16000 "$work/out/$id.opus" "$work/out/$id.ours16.wav"
  opusdec --quiet --rate 16000 "$work/out/$id.enc.opus" "$work/out/$id.enc16.wav"
  printf '%s\t%s\t%s\t%s\t%s\n' "$id" "$(cat "$ref")" "$(hyp "$work/ref16/$id.wav")" \
    "$(hyp "$work/out/$id.ours16.wav")" "$(hyp "$work/out/$id.enc16.wav")" >>"$work/wer.tsv"
done
python3 - "$work/wer.tsv" <<'PY'
import sys
def edits(r, h):
    d = list(range(len(h) + 1))
    for i, rw in enumerate(r, 1):
        prev, d[0] = d[0], i
        for j, hw in enumerate(h, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (rw != hw))
    return d[len(h)]
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
for label, pick in (("LibriVox (real speech)", lambda i: i.startswith("sense")),
                    ("espeak-ng (generated)", lambda i: i.startswith("espeak"))):
    sel = [r for r in rows if pick(r[0])]
    words = sum(len(r[1].split()) for r in sel)
    wer = [100 * sum(edits(r[1].split(), r[k].split()) for r in sel) / words for k in (2, 3, 4)]
    print(f"{label:<24} words {words:4d}  WER wav {wer[0]:5.1f}%  ours opus {wer[1]:5.1f}%  opusenc {wer[2]:5.1f}%  (ours - wav = {wer[1]-wer[0]:+.1f} points)")
for r in rows:
    print("  ", r[0], "| wav:", r[2].strip(), "| ours:", r[3].strip())
PY
