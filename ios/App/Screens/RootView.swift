// Enrol first; then the story list, from which every other screen opens.
import SwiftUI
import UIKit
import TellusKit

enum Route: Hashable {
    case consent(storyId: String)
    case recording(storyId: String)
    case review(storyId: String)
    case story(storyId: String)
    case settings
}

struct RootView: View {
    @ObservedObject var model: AppModel
    @State private var path: [Route] = []

    var body: some View {
        NavigationStack(path: $path) {
            Group {
                if model.isEnrolled {
                    StoryListScreen(model: model, path: $path)
                } else {
                    EnrolScreen(model: model)
                }
            }
            .navigationDestination(for: Route.self) { route in
                switch route {
                case .consent(let id): ConsentScreen(model: model, storyId: id, path: $path)
                case .recording(let id): RecordingScreen(model: model, storyId: id, path: $path)
                case .review(let id): ReviewScreen(model: model, storyId: id, path: $path)
                case .story(let id): StoryScreen(model: model, storyId: id)
                case .settings: SettingsScreen(model: model)
                }
            }
        }
        .alert("Tellus", isPresented: Binding(get: { model.lastError != nil }, set: { if !$0 { model.lastError = nil } })) {
            Button("OK", role: .cancel) {}
        } message: {
            Text(model.lastError ?? "")
        }
    }
}

struct EnrolScreen: View {
    @ObservedObject var model: AppModel
    @State private var server = "https://"
    @State private var invite = ""
    @State private var deviceLabel = UIDevice.current.name
    @State private var busy = false

    var body: some View {
        Form {
            Section("Your project's server") {
                TextField("https://stories.example.org", text: $server)
                    .textContentType(.URL).keyboardType(.URL).autocorrectionDisabled().textInputAutocapitalization(.never)
            }
            Section("Invite code from your project lead") {
                TextField("ABCD-EFGH-JKLM-NPQR", text: $invite)
                    .autocorrectionDisabled().textInputAutocapitalization(.characters)
            }
            Section("This phone's name (seen by the lead)") {
                TextField("Phone", text: $deviceLabel)
            }
            Button(busy ? String(localized: "Enrolling…") : String(localized: "Enrol")) {
                busy = true
                Task {
                    _ = await model.enrol(server: server, invite: invite, deviceLabel: deviceLabel)
                    busy = false
                }
            }
            .disabled(busy || invite.isEmpty || server.count < 10)
        }
        .navigationTitle("Join a project")
    }
}
