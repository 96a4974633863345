// One story: its delivery state, consent, recordings, markers and notes, and the
// storyteller's withdrawal (DESIGN.md §1.6), recorded here and sent before anything else
// of the story at the next sync.
import SwiftUI
import TellusKit

struct StoryScreen: View {
    @ObservedObject var model: AppModel
    let storyId: String
    @State private var story: StoryView?
    @State private var delivery: DeliveryStateView?
    @State private var recordings: [RecordingView] = []
    @State private var notes: [NoteView] = []
    @State private var confirmWithdraw = false
    @State private var eraseAudio = true

    var body: some View {
        List {
            if let story {
                Section {
                    Text(story.title).font(.headline)
                    if !story.summary.isEmpty { Text(story.summary) }
                    Text(story.storytellerLabel).foregroundStyle(.secondary)
                    if let delivery { Text(delivery.label) }
                    Text("Consent: \(consentText(story.consent))").font(.footnote)
                }
                Section("Recordings") {
                    ForEach(recordings, id: \.id) { (recording: RecordingView) in
                        Text("\(formatPosition(ms: recording.durationMs)) · \(recording.bytes / 1024) KiB" + (recording.recovered ? " · recovered after a crash" : ""))
                    }
                }
                Section("Markers and notes") {
                    ForEach(notes, id: \.id) { (note: NoteView) in
                        Text("\(note.atMs.map { formatPosition(ms: $0) } ?? "—")  \(note.text)")
                    }
                }
                if story.consent.status != .withdrawn {
                    Section {
                        Toggle("Also delete the audio on this phone", isOn: $eraseAudio)
                        Button("The storyteller withdraws", role: .destructive) { confirmWithdraw = true }
                    }
                }
            }
        }
        .navigationTitle("Story")
        .onAppear(perform: load)
        .confirmationDialog("Record the storyteller's withdrawal? The server deletes the audio and keeps only a tombstone.",
                            isPresented: $confirmWithdraw, titleVisibility: .visible) {
            Button("Withdraw", role: .destructive, action: withdraw)
        }
    }

    private func consentText(_ consent: ConsentView) -> String {
        switch consent.status {
        case .notRecorded: return "not recorded"
        case .withdrawn: return "withdrawn"
        case .given: return consent.granted.sorted().joined(separator: ", ")
        }
    }

    private func load() {
        do {
            story = try model.core.story(id: storyId)
            delivery = try model.core.deliveryState(story: storyId)
            recordings = try model.core.recordings(story: storyId)
            notes = try model.core.notes(story: storyId)
        } catch {
            model.lastError = describe(error)
        }
    }

    private func withdraw() {
        do {
            _ = try model.core.withdrawConsent(story: storyId, how: .appCheckbox,
                                               capturedBy: model.account?.reporterId ?? "reporter",
                                               eraseAudio: eraseAudio)
            model.syncSoon()
            load()
        } catch {
            model.lastError = describe(error)
        }
    }
}
