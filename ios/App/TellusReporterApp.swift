// The app's entry: opens the core once on its data folder with the background URLSession
// transport, registers background sync before launch finishes, and hands relaunches for
// the upload session to the transport.
import SwiftUI
import TellusKit
import UIKit

final class AppDelegate: NSObject, UIApplicationDelegate {
    let transport = BackgroundUploadTransport()
    private(set) var core: TellusApp?
    private(set) var openError: String?
    private let network = NetworkMonitor()

    func application(_ application: UIApplication,
                     didFinishLaunchingWithOptions launchOptions: [UIApplication.LaunchOptionsKey: Any]? = nil) -> Bool {
        do {
            let app: TellusApp = try TellusKit.open(transport: transport)
            core = app
            network.start(core: app) { Task { _ = try? await app.syncNow() } }
        } catch {
            openError = describe(error)
        }
        // Registered even when the core failed to open, as the system requires; the task
        // then reports failure.
        BackgroundSync.register { [weak self] in self?.core }
        transport.reconnect()
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
            if let core = delegate.core {
                RootView(model: AppModel(core: core))
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
