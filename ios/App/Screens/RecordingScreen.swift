// The interview (DESIGN.md §1.3): elapsed audio time, a live level meter, pause/resume,
// a marker and a note at the current audio position, the guide's questions to swipe
// through (each marks its position when asked), stop → review. The core does the
// recording; this screen drives the session and the audio session around it.
import SwiftUI
import TellusKit

@MainActor
final class RecordingModel: ObservableObject {
    let core: TellusApp
    let storyId: String
    private let audio = AudioSessionController()
    private var session: RecorderSession?
    private var levels: SubscriptionHandle?

    @Published private(set) var stats: RecorderStatsView?
    @Published private(set) var level: LevelView?
    @Published private(set) var markers: [NoteView] = []
    /// Set when the system paused us (a call, a route change): the reporter may resume.
    @Published private(set) var interruption: String?
    @Published private(set) var finished: FinishedRecordingView?
    @Published var error: String?

    init(core: TellusApp, storyId: String) {
        self.core = core
        self.storyId = storyId
        audio.onEvent = { [weak self] event in self?.handle(event) }
    }

    var isRecording: Bool { session != nil && finished == nil }
    var paused: Bool { stats?.paused ?? false }

    func start() async {
        guard session == nil else { return }
        guard await audio.requestMicrophone() else {
            error = String(localized: "Tellus needs the microphone to record the interview. Allow it in Settings → Privacy → Microphone.")
            return
        }
        do {
            try audio.activate()
            let core: TellusApp = self.core
            let id: String = storyId
            // Opening the microphone and the file happens off the main actor.
            let started: RecorderSession = try await offMain {
                try core.startRecording(
                    story: id, request: RecordingRequest(device: nil, stereo: false, sampleRate: nil, maxDurationMs: nil))
            }
            session = started
            levels = started.observeLevels(observer: LevelChanges { [weak self] (level: LevelView) in
                Task { @MainActor in self?.level = level }
            })
        } catch {
            audio.deactivate()
            self.error = describe(error)
        }
    }

    /// Called by the screen's timer: the elapsed time and the health of the capture, read
    /// off the main actor.
    func refresh() async {
        guard let session else { return }
        guard let snapshot: RecorderStatsView = try? await offMain({ session.stats() }) else { return }
        stats = snapshot
        if snapshot.stopped != nil && finished == nil {
            // Ended by itself (storage low, the 4 GiB limit, a microphone that could not be
            // restarted): everything captured is kept; finish and say why.
            stop()
        }
    }

    func pause() { perform { try $0.pause() } }

    func resume() {
        do { try audio.activate() } catch { self.error = describe(error); return }
        interruption = nil
        perform { try $0.resume() }
    }

    func marker(question: QuestionView?) {
        perform { (session: RecorderSession) in
            let note: NoteView = try session.addMarker(label: question == nil ? String(localized: "Key moment") : "", questionId: question?.id)
            markers.append(note)
        }
    }

    /// The position where the reporter began typing, so the note lands where it was said.
    func positionNow() -> UInt64 { session?.positionMs() ?? 0 }

    func note(_ text: String, at position: UInt64) {
        perform { (session: RecorderSession) in
            let note: NoteView = try session.addNoteAt(text: text, atMs: position)
            markers.append(note)
        }
    }

    func stop() {
        guard let session else { return }
        levels?.cancel()
        levels = nil
        do {
            let done: FinishedRecordingView = try session.stop()
            finished = done
            prepareAudio()
            if done.framesDropped > 0 || done.streamErrors > 0 {
                error = "\(done.reasonMessage) \(done.framesDropped) frames were lost and \(done.streamErrors) stream errors were recovered."
            }
        } catch {
            self.error = describe(error)
        }
        audio.deactivate()
    }

    /// The verified FLAC and the listening copy (data saver, docs/data-saver.md), made
    /// off the main actor right after the recording stops, so that the next sync finds
    /// them ready; a failure is retried by that sync, so it is only logged.
    private func prepareAudio() {
        let core: TellusApp = self.core
        Task.detached(priority: .utility) {
            do {
                let report: PrepareAudioView = try core.prepareAudio()
                for failure in report.failures { NSLog("Tellus: audio copy not made yet: \(failure)") }
            } catch {
                NSLog("Tellus: audio copies not made yet: \(error.localizedDescription)")
            }
        }
    }

    private func perform(_ action: (RecorderSession) throws -> Void) {
        guard let session else { return }
        do { try action(session) } catch { self.error = describe(error) }
    }

    private func handle(_ event: AudioSessionController.Event) {
        switch event {
        case .paused(let reason, _):
            // Into the core, so the file records a segment boundary here; the paused time
            // does not count as audio.
            perform { (session: RecorderSession) in
                if !session.isPaused() { try session.pause() }
            }
            interruption = reason
        case .resumable:
            interruption = String(localized: "The interruption is over. Resume when the storyteller is ready.")
        case .servicesReset:
            // The system's audio restarted under us: finish this recording (nothing is
            // lost) and let the reporter start another one for the same story.
            stop()
            error = String(localized: "The phone's audio system restarted; this recording was saved. Start recording again to continue.")
        }
    }
}

struct RecordingScreen: View {
    @ObservedObject var model: AppModel
    let storyId: String
    @Binding var path: [Route]
    @StateObject private var recording: RecordingModel
    @State private var noteText = ""
    @State private var noteAt: UInt64?
    @State private var question = 0
    private let tick = Timer.publish(every: 0.25, on: .main, in: .common).autoconnect()

    init(model: AppModel, storyId: String, path: Binding<[Route]>) {
        self.model = model
        self.storyId = storyId
        _path = path
        _recording = StateObject(wrappedValue: RecordingModel(core: model.core, storyId: storyId))
    }

    /// Read once, off the main actor, when the screen appears (not in every body update).
    @State private var guide: [QuestionView] = []
    @State private var hasEarlierRecordings = false

    var body: some View {
        VStack(spacing: 16) {
            Text(formatPosition(ms: recording.stats?.positionMs ?? 0))
                .font(.system(size: 48, weight: .medium, design: .monospaced))
            LevelMeter(level: recording.level)
                .frame(height: 12)
            if let interruption = recording.interruption {
                Text(interruption).font(.callout).foregroundStyle(.orange)
            }
            if let stats: RecorderStatsView = recording.stats, stats.framesDropped > 0 || stats.streamErrors > 0 {
                Text("\(Int(stats.framesDropped)) frames lost · \(Int(stats.streamErrors)) stream errors · \(Int(stats.restarts)) restarts")
                    .font(.caption).foregroundStyle(.red)
            }
            if !guide.isEmpty {
                TabView(selection: $question) {
                    ForEach(guide.indices, id: \.self) { index in
                        let q: QuestionView = guide[index]
                        VStack {
                            Text(q.text).multilineTextAlignment(.center)
                            Button("Asking this now") { recording.marker(question: q) }
                                .disabled(!recording.isRecording)
                        }
                        .tag(index)
                    }
                }
                .tabViewStyle(.page)
                .frame(height: 140)
            }
            HStack(spacing: 24) {
                if !recording.isRecording {
                    Button("Start") { Task { await recording.start() } }.buttonStyle(.borderedProminent)
                        .disabled(recording.finished != nil)
                } else if recording.paused {
                    Button("Resume") { recording.resume() }.buttonStyle(.borderedProminent)
                } else {
                    Button("Pause") { recording.pause() }.buttonStyle(.bordered)
                }
                Button("Marker") { recording.marker(question: nil) }.disabled(!recording.isRecording)
                Button("Stop", role: .destructive) { recording.stop() }.disabled(!recording.isRecording)
            }
            HStack {
                TextField("Note at this moment", text: $noteText, onEditingChanged: { began in
                    if began && noteAt == nil { noteAt = recording.positionNow() }
                })
                Button("Add") {
                    recording.note(noteText, at: noteAt ?? recording.positionNow())
                    noteText = ""
                    noteAt = nil
                }
                .disabled(noteText.isEmpty || !recording.isRecording)
            }
            List(recording.markers, id: \.id) { (note: NoteView) in
                Text("\(formatPosition(ms: note.atMs ?? 0))  \(note.text)")
            }
            // After this recording, or for a draft recorded earlier (the reporter came back
            // to it): on to the review; never while the microphone is open.
            if recording.finished != nil || (!recording.isRecording && hasEarlierRecordings) {
                Button("Review") { path.append(.review(storyId: storyId)) }.buttonStyle(.borderedProminent)
            }
        }
        .padding()
        .navigationTitle("Interview")
        .navigationBarBackButtonHidden(recording.isRecording)
        .onReceive(tick) { _ in Task { await recording.refresh() } }
        .task {
            let core: TellusApp = model.core
            let id: String = storyId
            if let read: ([QuestionView], [RecordingView]) = try? await offMain({
                (try core.project().guide, try core.recordings(story: id))
            }) {
                guide = read.0
                hasEarlierRecordings = !read.1.isEmpty
            }
        }
        .alert("Recording", isPresented: Binding(get: { recording.error != nil }, set: { if !$0 { recording.error = nil } })) {
            Button("OK", role: .cancel) {}
        } message: {
            Text(recording.error ?? "")
        }
    }
}

/// Peak and RMS in dBFS on a -60…0 scale.
struct LevelMeter: View {
    let level: LevelView?

    var body: some View {
        GeometryReader { geometry in
            let rms = fraction(level?.rmsDbfs)
            let peak = fraction(level?.peakDbfs)
            ZStack(alignment: .leading) {
                Capsule().fill(Color.secondary.opacity(0.2))
                Capsule().fill(peak > 0.95 ? Color.red : Color.green).frame(width: geometry.size.width * rms)
                Rectangle().fill(Color.primary).frame(width: 2).offset(x: geometry.size.width * peak)
            }
        }
        .accessibilityLabel("Input level")
    }

    private func fraction(_ dbfs: Float?) -> CGFloat {
        guard let dbfs, dbfs.isFinite else { return 0 }
        return CGFloat(min(max((dbfs + 60) / 60, 0), 1))
    }
}
