// Settings: audio on Wi-Fi only, remove local audio after delivery (only ever after the
// server's receipt matched), parked items to retry, the account and the core's version.
import SwiftUI
import TellusKit

struct SettingsScreen: View {
    @ObservedObject var model: AppModel
    @State private var settings: SyncSettingsView?

    var body: some View {
        Form {
            if let settings {
                Toggle("Send audio on Wi-Fi only", isOn: binding(settings, \.audioOnUnmeteredOnly))
                Toggle("Remove audio from this phone once delivered", isOn: binding(settings, \.removeLocalAudioAfterDelivery))
            }
            Section {
                Button("Try parked items again") { model.retryParked() }
                Button("Sync now") { model.syncSoon() }.disabled(model.syncing)
            }
            if let account: AccountView = model.account {
                Section("Enrolled") {
                    Text(account.serverUrl)
                    Text("Project \(account.projectId)")
                    if account.needsEnrolment { Text("The server no longer accepts this phone: enrol again.").foregroundStyle(.red) }
                }
            }
            Section("About") { Text("Tellus core \(Tellus.coreVersionText)") }
        }
        .navigationTitle("Settings")
        .onAppear {
            let core: TellusApp = model.core
            Task { settings = try? await offMain { try core.syncSettings() } }
        }
    }

    private func binding(_ current: SyncSettingsView, _ field: WritableKeyPath<SyncSettingsView, Bool>) -> Binding<Bool> {
        Binding(get: { current[keyPath: field] }, set: { value in
            var changed = current
            changed[keyPath: field] = value
            let core: TellusApp = model.core
            let chosen: SyncSettingsView = changed
            Task {
                do {
                    try await offMain { try core.setSyncSettings(settings: chosen) }
                    settings = chosen
                } catch {
                    model.lastError = describe(error)
                }
            }
        })
    }
}
