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

    private var projectTags: [String] { (try? model.core.project().tags) ?? [] }

    private func load() {
        guard !loaded, let story: StoryView = try? model.core.story(id: storyId) else { return }
        loaded = true
        title = story.title
        summary = story.summary
        tags = Set(story.tags)
    }

    private func markReady() {
        do {
            _ = try model.core.editStory(id: storyId, title: title, summary: summary)
            _ = try model.core.addTags(id: storyId, tags: Array(tags).sorted())
            let story: StoryView = try model.core.markReady(id: storyId)
            if story.state == .ready {
                model.syncSoon()
                path = [.story(storyId: storyId)]
            }
        } catch {
            model.lastError = describe(error)
        }
    }
}
