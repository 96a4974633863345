// Consent first (DESIGN.md §1.2): the project's current form in the storyteller's
// language, read together, item by item. Continuing needs `record`; the core refuses a
// story without it anyway (ConsentMissing), this only says so early.
import SwiftUI
import TellusKit

struct ConsentScreen: View {
    @ObservedObject var model: AppModel
    let storyId: String
    @Binding var path: [Route]

    @State private var form: ConsentFormView?
    @State private var granted: Set<String> = []
    @State private var signed = false
    @State private var name = ""
    @State private var contact = ""
    @State private var alreadyGiven = false

    var body: some View {
        Form {
            if let form {
                if form.languages.count > 1 {
                    Picker("Language", selection: Binding(get: { form.language }, set: { load(language: $0) })) {
                        ForEach(form.languages, id: \.self) { Text($0) }
                    }
                }
                Section { Text(form.intro) }
                Section("What the storyteller agrees to") {
                    ForEach(form.items, id: \.key) { (item: ConsentItemView) in
                        Toggle(isOn: Binding(get: { granted.contains(item.key) },
                                             set: { on in if on { granted.insert(item.key) } else { granted.remove(item.key) } })) {
                            Text(item.required ? String(localized: "\(item.label) (needed to record)") : item.label)
                        }
                    }
                }
                if granted.contains("credit_by_name") {
                    Section("Name to credit") { TextField("Name", text: $name) }
                }
                if granted.contains("recontact") {
                    Section("How to get back in touch") { TextField("Phone or email", text: $contact) }
                }
                Toggle("Signed on paper as well", isOn: $signed)
                Button(alreadyGiven ? String(localized: "Continue to recording") : String(localized: "Record consent and continue")) { save(form) }
                    .disabled(!alreadyGiven && !granted.contains("record"))
                if !granted.contains("record") && !alreadyGiven {
                    Text("Recording needs the storyteller to agree to be recorded.").font(.footnote).foregroundStyle(.secondary)
                }
            } else {
                ProgressView()
            }
        }
        .navigationTitle("Consent")
        .onAppear { load(language: Locale.current.language.languageCode?.identifier ?? "en") }
    }

    /// Reads the story's consent and the form off the main actor.
    private func load(language: String) {
        let core: TellusApp = model.core
        let id: String = storyId
        Task {
            do {
                let read: (StoryView, ConsentFormView) = try await offMain {
                    (try core.story(id: id), try core.consentForm(language: language))
                }
                let story: StoryView = read.0
                alreadyGiven = story.consent.status == .given && story.consent.granted.contains("record")
                form = read.1
            } catch {
                model.lastError = describe(error)
            }
        }
    }

    private func save(_ form: ConsentFormView) {
        if alreadyGiven {
            path.append(.recording(storyId: storyId))
            return
        }
        let choices = ConsentChoices(
            granted: Array(granted),
            how: signed ? .signed : .appCheckbox,
            capturedBy: model.account?.reporterId ?? "reporter",
            name: granted.contains("credit_by_name") && !name.isEmpty ? name : nil,
            contact: granted.contains("recontact") && !contact.isEmpty ? contact : nil)
        let core: TellusApp = model.core
        let id: String = storyId
        Task {
            do {
                let consent: ConsentView = try await offMain { try core.giveConsent(story: id, form: form, choices: choices) }
                if consent.status == .given { path.append(.recording(storyId: id)) }
            } catch {
                model.lastError = describe(error)
            }
        }
    }
}
