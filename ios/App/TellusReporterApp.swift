// The app's entry: opens the core once on its data folder with the background URLSession
// transport, registers background sync before launch finishes, and hands relaunches for
// the upload session to the transport.
import SwiftUI
import TellusKit
import UIKit

@MainActor
final class AppDelegate: NSObject, UIApplicationDelegate {
    let transport = BackgroundUploadTransport()
    private(set) var core: TellusApp?
    /// Made once, here: a model made in a view's body would subscribe again on every update.
    private(set) var model: AppModel?
    private(set) var openError: String?
    private let network = NetworkMonitor()

    func application(_ application: UIApplication,
                     didFinishLaunchingWithOptions launchOptions: [UIApplication.LaunchOptionsKey: Any]? = nil) -> Bool {
        // First, so that opening the core is logged too.
        OSLogSink.install()
        do {
            let app: TellusApp = try Tellus.open(transport: transport)
            core = app
            model = AppModel(core: app)
            network.start(core: app) { Task { _ = try? await app.syncNow() } }
        } catch {
            openError = describe(error)
        }
        // Registered even when the core failed to open, as the system requires; the task
        // then reports failure.
        BackgroundSync.register(core: core)
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
            } else {
                ContentUnavailableView("Tellus cannot open its data",
                                       systemImage: "exclamationmark.triangle",
                                       description: Text(delegate.openError ?? "Unknown error"))
            }
        }
        .onChange(of: phase) { _, newPhase in
            if newPhase == .background { BackgroundSync.schedule() }
        }
    }
}
