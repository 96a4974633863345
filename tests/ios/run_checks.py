#!/usr/bin/env python3
"""The iOS checks (tests/ios/run.sh builds the library and generates the bindings first).
Each check prints ok/FAIL with its name; the last line is "ios: N passed, N failed"."""

import argparse
import os
import json
import plistlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKER = ROOT / "tests/ios/check_swift_api.py"

# Misspellings the API check must catch, one per kind of reference it reads: a method, a
# record field, an enum case in a switch, an argument label, an error case, a top-level
# function, a generated type, an enum case passed as an argument, a comparison with an
# enum case, a property chain through a hand-written model, a record initialiser's label.
MUTATIONS = [
    ("App/AppModel.swift", "core.storyPage(", "core.storyPages(", "storyPages"),
    ("App/Platform/BackgroundSync.swift", "next?.atMs", "next?.atMillis", "atMillis"),
    ("App/Screens/StoryScreen.swift", "story.title", "story.titel", "titel"),
    ("Sources/TellusKit/Wording.swift", "case .onlyOnThisPhone:", "case .onlyOnThisPhon:", "onlyOnThisPhon"),
    ("Sources/TellusKit/TellusKit.swift", "openWithPlatform(\n            dataDir:", "openWithPlatform(\n            dataDirectory:", "dataDirectory:"),
    ("Sources/TellusKit/KeychainSecretStore.swift", "SecretStoreError.Unavailable(", "SecretStoreError.unavailable(", "'unavailable'"),
    ("App/Platform/BackgroundUploadTransport.swift", "TellusError.Network(", "TellusError.network(", "'network'"),
    ("Sources/TellusKit/TellusKit.swift", "coreVersion()", "coreVersions()", "coreVersions"),
    ("Sources/TellusKit/TellusKit.swift", "story: StoryView)", "story: StoryVeiw)", "StoryVeiw"),
    ("App/Screens/ConsentScreen.swift", ".signed : .appCheckbox", ".signed : .checkbox", ".checkbox"),
    ("App/Screens/StoryListScreen.swift", "row.item.state == .ready", "row.item.state == .finished", ".finished"),
    ("App/Screens/RecordingScreen.swift", "session.addNoteAt(text: text,", "session.addNoteAt(text,", "addNoteAt(_:atMs:)"),
    ("App/Screens/RecordingScreen.swift", "RecordingRequest(device: nil, stereo:", "RecordingRequest(device: nil, mono:", "mono:"),
    ("App/Screens/ConsentScreen.swift", "core.giveConsent(story:", "core.giveConsent(storyId:", "storyId:"),
]

results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(("ok   " if ok else "FAIL ") + name + ("" if ok or not detail else "\n" + detail.rstrip()))


def swift_sources(root):
    return sorted(str(p) for p in Path(root).rglob("*.swift"))


def run_checker(generated, root):
    return subprocess.run(
        [sys.executable, str(CHECKER), str(generated), *swift_sources(root)],
        capture_output=True, text=True,
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bindings", required=True)
    parser.add_argument("--library", required=True)
    parser.add_argument("--work", required=True)
    args = parser.parse_args()
    bindings, work = Path(args.bindings), Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    generated = bindings / "TellusCore.swift"
    header = bindings / "TellusCoreFFI.h"

    # 1. The header parses, as a Swift module map includes it (not as the main file, so its
    # `#pragma once` is quiet), with any warning an error.
    (work / "include.c").write_text('#include "TellusCoreFFI.h"\n')
    parse = subprocess.run(
        ["gcc", "-D_Nonnull=", "-D_Nullable=", "-Werror", "-fsyntax-only", "-I", str(bindings), str(work / "include.c")],
        capture_output=True, text=True,
    )
    check("the generated C header parses with no warning", parse.returncode == 0, parse.stderr)

    # 2. Every function the header declares is defined in the static library the
    # XCFramework packages (global text symbols of its objects).
    declared = set(re.findall(r"\b((?:uniffi|ffi)_[A-Za-z0-9_]+)\s*\(", header.read_text()))
    nm = subprocess.run(["nm", "-g", "--defined-only", args.library], capture_output=True, text=True)
    defined = {line.split()[-1] for line in nm.stdout.splitlines() if len(line.split()) == 3}
    missing = sorted(declared - defined)
    check(f"all {len(declared)} functions the header declares are defined in libtellus_ffi.a",
          nm.returncode == 0 and declared and not missing, "missing: " + " ".join(missing[:20]))

    # 3. The module map names that header and the module the generated Swift imports.
    modulemap = (bindings / "TellusCoreFFI.modulemap").read_text()
    swift = generated.read_text()
    check("the module map exports TellusCoreFFI.h as the module TellusCore.swift imports",
          re.search(r"module\s+TellusCoreFFI\s*\{[^}]*header\s+\"TellusCoreFFI.h\"", modulemap) is not None
          and "import TellusCoreFFI" in swift)

    # 4. The hand-written Swift calls only what the generated Swift declares.
    result = run_checker(generated, ROOT / "ios")
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr
    counted = re.search(r"checked (\d+) uses of the generated API \((\d+) types", summary)
    # A reader that found nothing to check would pass anything: it must have read the
    # generated types and followed a good share of the app's calls.
    check("the wrapper and the app call only the generated API (" + summary + ")",
          result.returncode == 0 and counted is not None and int(counted.group(1)) >= 150 and int(counted.group(2)) >= 40,
          result.stdout + result.stderr)

    # 5. ... and the check is strict: each misspelling below makes it fail.
    for path, old, new, reported in MUTATIONS:
        copy = work / "mutated"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(ROOT / "ios", copy)
        target = copy / path
        text = target.read_text()
        if old not in text:
            check(f"the API check catches {new!r}", False, f"{path} no longer contains {old!r}: update MUTATIONS")
            continue
        target.write_text(text.replace(old, new, 1))
        mutated = run_checker(generated, copy)
        check(f"the API check catches {new!r} in {path}", mutated.returncode == 1 and reported in mutated.stdout,
              mutated.stdout)

    # 6. Info.plist: microphone usage text, background modes, and the background task
    # identifiers exactly those the app registers.
    plist = plistlib.loads((ROOT / "ios/App/Info.plist").read_bytes())
    sync_swift = (ROOT / "ios/App/Platform/BackgroundSync.swift").read_text()
    registered = set(re.findall(r'static let \w+Task = "([^"]+)"', sync_swift))
    check("Info.plist asks for the microphone with a reason",
          len(plist.get("NSMicrophoneUsageDescription", "")) > 40)
    check("Info.plist has the audio, processing and fetch background modes",
          {"audio", "processing", "fetch"} <= set(plist.get("UIBackgroundModes", [])))
    check("Info.plist permits exactly the background tasks the app registers",
          registered and set(plist.get("BGTaskSchedulerPermittedIdentifiers", [])) == registered,
          f"plist {plist.get('BGTaskSchedulerPermittedIdentifiers')} vs code {sorted(registered)}")

    # 7. Every word the app shows is in the String Catalog with its Spanish translation
    # (check_strings.py), the microphone's reason too, and the check fails on a missing one.
    strings_checker = ROOT / "tests/ios/check_strings.py"
    catalog = ROOT / "ios/App/Localizable.xcstrings"
    swift_words = [str(p) for p in sorted((ROOT / "ios/App").rglob("*.swift"))] + [
        str(ROOT / "ios/Sources/TellusKit/Wording.swift")]
    run = subprocess.run([sys.executable, str(strings_checker), str(catalog), *swift_words],
                         capture_output=True, text=True)
    check("every word of the app is in Localizable.xcstrings with a Spanish translation",
          run.returncode == 0, run.stdout)
    broken = json.loads(catalog.read_text())
    dropped = sorted(broken["strings"])[0]
    del broken["strings"][dropped]["localizations"]["es"]
    (work / "broken.xcstrings").write_text(json.dumps(broken))
    run = subprocess.run([sys.executable, str(strings_checker), str(work / "broken.xcstrings"), *swift_words],
                         capture_output=True, text=True)
    check("the strings check catches a missing Spanish translation", run.returncode == 1 and "no Spanish" in run.stdout,
          run.stdout)
    info_strings = json.loads((ROOT / "ios/App/InfoPlist.xcstrings").read_text())["strings"]
    check("the microphone's reason is translated too, and Info.plist lists both languages",
          info_strings.get("NSMicrophoneUsageDescription", {}).get("localizations", {}).get("es", {})
          .get("stringUnit", {}).get("state") == "translated"
          and set(plist.get("CFBundleLocalizations", [])) == {"en", "es"})

    # 8. Package.swift points where the packaging script writes.
    package = (ROOT / "Package.swift").read_text()
    script = (ROOT / "scripts/build-xcframework.sh").read_text()
    check("Package.swift's targets are where scripts/build-xcframework.sh puts the framework and the generated Swift",
          'path: "build/ios/TellusCoreFFI.xcframework"' in package and "out=build/ios" in script
          and 'path: "ios/Sources/TellusCore"' in package and "ios/Sources/TellusCore/TellusCore.swift" in script
          and (ROOT / "ios/Sources/TellusKit").is_dir())

    # 9. Off macOS the packaging script stops with a clear message and builds nothing.
    if os.uname().sysname != "Darwin":
        run = subprocess.run(["bash", str(ROOT / "scripts/build-xcframework.sh"), "--out", str(work / "xc")],
                             capture_output=True, text=True)
        check("scripts/build-xcframework.sh refuses clearly off macOS",
              run.returncode == 1 and "needs macOS" in run.stderr and not (work / "xc").exists(), run.stderr)

    passed = sum(results)
    print(f"ios: {passed} passed, {len(results) - passed} failed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
