// Consent first (DESIGN.md §1.2): the project's current form in the storyteller's
// language, read together, item by item. Whether it may be finished is the core's answer
// (checkConsentForm), asked on every change: this screen holds no consent rule of its own.
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
    /// The core's sentence saying what the form still needs; nil when it is complete.
    @State private var blocker: String?

    var body: some View {
        Form {
            if let form {
                if form.languages.count > 1 {
                    Picker("Language", selection: Binding(get: { form.language }, set: { load(languages: [$0]) })) {
                        ForEach(form.languages, id: \.self) { Text($0) }
                    }
                }
                Section { Text(form.intro) }
                Section("What the storyteller agrees to") {
                    ForEach(form.items, id: \.key) { (item: ConsentItemView) in
                        Toggle(isOn: Binding(get: { granted.contains(item.key) },
                                             set: { on in
                                                 if on { granted.insert(item.key) } else { granted.remove(item.key) }
                                                 check(form)
                                             })) {
                            Text(item.required ? String(localized: "\(item.label) (needed to record)") : item.label)
                        }
                    }
                }
                if form.items.contains(where: { $0.asksName && granted.contains($0.key) }) {
                    Section("Name to credit") {
                        TextField("Name", text: Binding(get: { name }, set: { name = $0; check(form) }))
                    }
                }
                if form.items.contains(where: { $0.asksContact && granted.contains($0.key) }) {
                    Section("How to get back in touch") { TextField("Phone or email", text: $contact) }
                }
                Toggle("Signed on paper as well", isOn: $signed)
                Button(alreadyGiven ? String(localized: "Continue to recording") : String(localized: "Record consent and continue")) { save(form) }
                    .disabled(!alreadyGiven && blocker != nil)
                if let blocker, !alreadyGiven {
                    Text(blocker).font(.footnote).foregroundStyle(.secondary)
                }
            } else {
                ProgressView()
            }
        }
        .navigationTitle("Consent")
        .onAppear {
            let core: TellusApp = model.core
            let id: String = storyId
            Task {
                if let story: StoryView = try? await offMain({ try core.story(id: id) }) {
                    alreadyGiven = story.consent.status == .given
                }
            }
            load(languages: Locale.preferredLanguages)
        }
    }

    /// Reads the form off the main actor, then asks the core's check.
    private func load(languages: [String]) {
        let core: TellusApp = model.core
        Task {
            do {
                let loaded: ConsentFormView = try await offMain { try core.consentForm(preferredLanguages: languages) }
                form = loaded
                check(loaded)
            } catch {
                model.lastError = describe(error)
            }
        }
    }

    private func choices() -> ConsentChoices {
        ConsentChoices(
            granted: Array(granted),
            how: signed ? .signed : .appCheckbox,
            capturedBy: model.account?.reporterId ?? "reporter",
            name: name.isEmpty ? nil : name,
            contact: contact.isEmpty ? nil : contact)
    }

    /// The core's answer, asked off the main actor after every change.
    private func check(_ form: ConsentFormView) {
        let core: TellusApp = model.core
        let (id, asked): (String, ConsentChoices) = (storyId, choices())
        Task {
            do {
                blocker = try await offMain { try core.checkConsentForm(story: id, form: form, choices: asked) }
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
        let core: TellusApp = model.core
        let (id, asked): (String, ConsentChoices) = (storyId, choices())
        Task {
            do {
                let consent: ConsentView = try await offMain { try core.giveConsent(story: id, form: form, choices: asked) }
                if consent.status == .given { path.append(.recording(storyId: id)) }
            } catch {
                model.lastError = describe(error)
            }
        }
    }
}
