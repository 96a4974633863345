// One story: its delivery state, consent, recordings, markers and notes, and the
// storyteller's withdrawal (DESIGN.md §1.6), recorded here and sent before anything else
// of the story at the next sync.
import SwiftUI
import UIKit
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
    @State private var receipt: SharedReceipt?

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
                        Text(recording.recovered
                             ? String(localized: "\(formatPosition(ms: recording.durationMs)) · \(Int(recording.bytes / 1024)) KiB · recovered after a crash")
                             : String(localized: "\(formatPosition(ms: recording.durationMs)) · \(Int(recording.bytes / 1024)) KiB"))
                    }
                }
                Section("Markers and notes") {
                    ForEach(notes, id: \.id) { (note: NoteView) in
                        Text("\(note.atMs.map { formatPosition(ms: $0) } ?? "—")  \(note.text)")
                    }
                }
                if story.consent.status == .given {
                    Section {
                        Button("Share the storyteller's receipt", action: shareReceipt)
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
        .sheet(item: $receipt) { receipt in
            ShareSheet(items: [receipt.text, UIMarkupTextPrintFormatter(markupText: receipt.html)])
        }
    }

    private func consentText(_ consent: ConsentView) -> String {
        switch consent.status {
        case .notRecorded: return String(localized: "not recorded")
        case .withdrawn: return String(localized: "withdrawn")
        case .given: return consent.granted.sorted().joined(separator: ", ")
        }
    }

    /// Reads the story off the main actor.
    private func load() {
        let core: TellusApp = model.core
        let id: String = storyId
        Task {
            do {
                let read: (StoryView, DeliveryStateView, [RecordingView], [NoteView]) = try await offMain {
                    (try core.story(id: id), try core.deliveryState(story: id),
                     try core.recordings(story: id), try core.notes(story: id))
                }
                (story, delivery, recordings, notes) = read
            } catch {
                model.lastError = describe(error)
            }
        }
    }

    /// The receipt the core made (code, what was agreed, the portal link as a QR code) to
    /// the share sheet: the text for messages, the printable page for print.
    private func shareReceipt() {
        let core: TellusApp = model.core
        let id: String = storyId
        Task {
            do {
                let made: ConsentReceiptView = try await offMain { try core.receipt(story: id) }
                receipt = SharedReceipt(id: made.code, text: made.text, html: made.html)
            } catch {
                model.lastError = describe(error)
            }
        }
    }

    private func withdraw() {
        let core: TellusApp = model.core
        let (id, erase): (String, Bool) = (storyId, eraseAudio)
        let reporter: String = model.account?.reporterId ?? "reporter"
        Task {
            do {
                _ = try await offMain {
                    try core.withdrawConsent(story: id, how: .appCheckbox, capturedBy: reporter, eraseAudio: erase)
                }
                model.syncSoon()
                load()
            } catch {
                model.lastError = describe(error)
            }
        }
    }
}

/// A receipt on its way to the share sheet.
struct SharedReceipt: Identifiable {
    let id: String
    let text: String
    let html: String
}

/// The platform's share sheet (messages, mail, print, save to files).
struct ShareSheet: UIViewControllerRepresentable {
    let items: [Any]

    func makeUIViewController(context: Context) -> UIActivityViewController {
        UIActivityViewController(activityItems: items, applicationActivities: nil)
    }

    func updateUIViewController(_ controller: UIActivityViewController, context: Context) {}
}
