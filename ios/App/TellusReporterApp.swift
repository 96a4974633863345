// The app's entry: opens the core once on its data folder (off the main actor) with the background URLSession
// transport, registers background sync before launch finishes, and hands relaunches for
// the upload session to the transport.
import SwiftUI
import TellusKit
import UIKit

@MainActor
final class AppDelegate: NSObject, UIApplicationDelegate, ObservableObject {
    let transport = BackgroundUploadTransport()
    /// Made once, here: a model made in a view's body would subscribe again on every update.
    @Published private(set) var model: AppModel?
    @Published private(set) var openError: String?
    private let network = NetworkMonitor()

    func application(_ application: UIApplication,
                     didFinishLaunchingWithOptions launchOptions: [UIApplication.LaunchOptionsKey: Any]? = nil) -> Bool {
        let transport: BackgroundUploadTransport = self.transport
        // The core opens off the main actor (SQLite, recovering an interrupted recording
        // can take a while); the log sink first, so that opening is logged too.
        let opening = Task.detached(priority: .userInitiated) { () -> Result<TellusApp, any Error> in
            OSLogSink.install()
            return Result { try Tellus.open(transport: transport) }
        }
        let opened = Task { @MainActor () -> TellusApp? in
            switch await opening.value {
            case .success(let app):
                model = AppModel(core: app)
                network.start(core: app) { Task { _ = try? await app.syncNow() } }
                return app
            case .failure(let error):
                openError = describe(error)
                return nil
            }
        }
        // Registered before launch finishes, as the system requires; a task waits for the
        // core (and reports failure when it could not open).
        BackgroundSync.register(core: { await opened.value })
        BackgroundSync.schedule()
        return true
    }

    func application(_ application: UIApplication,
                     handleEventsForBackgroundURLSession identifier: String,
                     completionHandler: @escaping () -> Void) {
        transport.handleRelaunch(identifier: identifier, completion: completionHandler)
    }
}

@main
struct TellusReporterApp: App {
    @UIApplicationDelegateAdaptor(AppDelegate.self) private var delegate
    @Environment(\.scenePhase) private var phase

    var body: some Scene {
        WindowGroup {
            if let model = delegate.model {
                RootView(model: model)
            } else if let error = delegate.openError {
                ContentUnavailableView("Tellus cannot open its data",
                                       systemImage: "exclamationmark.triangle",
                                       description: Text(error))
            } else {
                ProgressView()
            }
        }
        .onChange(of: phase) { _, newPhase in
            // Going to the background: ask for time when the core says the next attempt is due.
            if newPhase == .background, let core: TellusApp = delegate.model?.core {
                Task { BackgroundSync.schedule(next: try? await offMain { try core.nextAttempt() }) }
            }
        }
    }
}
