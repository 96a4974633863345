// After the interview (DESIGN.md §1.4): title, summary and theme tags, then ready. The
// core refuses ready without `record` consent (ConsentMissing); once ready, sync is asked
// for at once and from the background scheduler.
import SwiftUI
import TellusKit

struct ReviewScreen: View {
    @ObservedObject var model: AppModel
    let storyId: String
    @Binding var path: [Route]
    @State private var title = ""
    @State private var summary = ""
    @State private var tags: Set<String> = []
    @State private var loaded = false
    @State private var projectTags: [String] = []

    var body: some View {
        Form {
            Section("Title") { TextField("Title", text: $title) }
            Section("Summary") { TextField("What the story is about", text: $summary, axis: .vertical).lineLimit(3...8) }
            Section("Themes") {
                ForEach(projectTags, id: \.self) { tag in
                    Toggle(tag, isOn: Binding(get: { tags.contains(tag) },
                                              set: { on in if on { tags.insert(tag) } else { tags.remove(tag) } }))
                }
            }
            Button("Mark ready to deliver") { markReady() }
                .buttonStyle(.borderedProminent)
                .disabled(title.isEmpty)
        }
        .navigationTitle("Review")
        .onAppear(perform: load)
    }

    /// Reads the story and the project's themes off the main actor.
    private func load() {
        guard !loaded else { return }
        let core: TellusApp = model.core
        let id: String = storyId
        Task {
            guard let read: (StoryView, [String]) = try? await offMain({ (try core.story(id: id), try core.project().tags) })
            else { return }
            let story: StoryView = read.0
            loaded = true
            title = story.title
            summary = story.summary
            tags = Set(story.tags)
            projectTags = read.1
        }
    }

    private func markReady() {
        let core: TellusApp = model.core
        let (id, newTitle, newSummary, chosen): (String, String, String, [String]) = (storyId, title, summary, Array(tags).sorted())
        Task {
            do {
                let story: StoryView = try await offMain {
                    _ = try core.editStory(id: id, title: newTitle, summary: newSummary)
                    _ = try core.addTags(id: id, tags: chosen)
                    return try core.markReady(id: id)
                }
                if story.state == .ready {
                    model.syncSoon()
                    path = [.story(storyId: id)]
                }
            } catch {
                model.lastError = describe(error)
            }
        }
    }
}
