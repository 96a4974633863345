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
                            Text(item.label + (item.required ? " (needed to record)" : ""))
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
                Button(alreadyGiven ? "Continue to recording" : "Record consent and continue") { save(form) }
                    .disabled(!alreadyGiven && !granted.contains("record"))
                if !granted.contains("record") && !alreadyGiven {
                    Text("Recording needs the storyteller to agree to be recorded.").font(.footnote).foregroundStyle(.secondary)
                }
            } else {
                ProgressView()
            }
        }
        .navigationTitle("Consent")
        .onAppear {
            if let story: StoryView = try? model.core.story(id: storyId) {
                alreadyGiven = story.consent.status == .given && story.consent.granted.contains("record")
            }
            load(language: Locale.current.language.languageCode?.identifier ?? "en")
        }
    }

    private func load(language: String) {
        do {
            form = try model.core.consentForm(language: language)
        } catch {
            model.lastError = describe(error)
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
        do {
            let consent: ConsentView = try model.core.giveConsent(story: storyId, form: form, choices: choices)
            if consent.status == .given { path.append(.recording(storyId: storyId)) }
        } catch {
            model.lastError = describe(error)
        }
    }
}
