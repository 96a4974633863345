// The stories on this phone, newest first, each with its delivery state: only on this
// phone → uploading n % → delivered (→ local audio removed), or needs attention with the
// reason; and a new story (participant first).
import SwiftUI
import TellusKit

struct StoryListScreen: View {
    @ObservedObject var model: AppModel
    @Binding var path: [Route]
    @State private var newStory = false

    var body: some View {
        List {
            ForEach(model.notices, id: \.self) { Text($0).font(.footnote) }
            if let progress: SyncProgressView = model.progress, progress.bytesTotal > 0, model.syncing {
                ProgressView(value: Double(progress.bytesSent), total: Double(progress.bytesTotal)) {
                    Text("Delivering \(Int(progress.storiesDone)) of \(Int(progress.storiesTotal))")
                }
            }
            ForEach(model.rows) { row in
                Button {
                    path.append(row.item.state == .ready ? .story(storyId: row.id) : .consent(storyId: row.id))
                } label: {
                    VStack(alignment: .leading, spacing: 4) {
                        Text(row.item.title).font(.headline)
                        Text("\(row.item.storytellerLabel) · \(Int(row.item.recordingCount)) recording(s) · \(Int(row.item.noteCount)) note(s)")
                            .font(.subheadline).foregroundStyle(.secondary)
                        Text(row.delivery.label).font(.caption).foregroundStyle(color(row.delivery))
                    }
                }
            }
        }
        .navigationTitle("Stories")
        .refreshable { model.syncSoon() }
        .toolbar {
            ToolbarItem(placement: .topBarLeading) {
                Button { path.append(.settings) } label: { Image(systemName: "gear") }
                    .accessibilityLabel("Settings")
            }
            ToolbarItem(placement: .topBarTrailing) {
                Button { newStory = true } label: { Image(systemName: "plus") }
                    .accessibilityLabel("New story")
            }
        }
        .sheet(isPresented: $newStory) {
            ParticipantSheet(model: model) { id in
                newStory = false
                path.append(.consent(storyId: id))
            }
        }
    }

    private func color(_ state: DeliveryStateView) -> Color {
        switch state {
        case .delivered: return .green
        case .needsAttention: return .red
        case .uploading: return .blue
        case .waitingForConnection, .waitingForUnmetered, .waitingToRetry, .cancelled: return .orange
        case .onlyOnThisPhone, .withdrawn: return .secondary
        }
    }
}

/// The participant: a working title and a label for the storyteller (not their name:
/// a real name is kept only with `credit_by_name`, asked on the consent screen).
struct ParticipantSheet: View {
    @ObservedObject var model: AppModel
    let created: (String) -> Void
    @State private var title = ""
    @State private var storyteller = ""

    var body: some View {
        NavigationStack {
            Form {
                TextField("Working title", text: $title)
                TextField("Storyteller (a label, e.g. Participant 4)", text: $storyteller)
                Button("Continue to consent") {
                    let core: TellusApp = model.core
                    let (newTitle, label): (String, String) = (title, storyteller)
                    Task {
                        do {
                            let story: StoryView = try await offMain { try core.createStory(title: newTitle, storytellerLabel: label) }
                            created(story.id)
                        } catch {
                            model.lastError = describe(error)
                        }
                    }
                }
                .disabled(title.isEmpty || storyteller.isEmpty)
            }
            .navigationTitle("New story")
        }
    }
}
