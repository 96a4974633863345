// Sync when the system allows (DESIGN.md §6): a BGProcessingTask that needs a network,
// for long audio uploads, and a BGAppRefreshTask for the short ones. The core decides what
// goes; this only gives it time. Identifiers are listed in Info.plist
// (BGTaskSchedulerPermittedIdentifiers) and registered before launch finishes.
import BackgroundTasks
import Foundation
import TellusKit

enum BackgroundSync {
    static let processingTask = "org.tellus.reporter.sync"
    static let refreshTask = "org.tellus.reporter.refresh"

    /// From `application(_:didFinishLaunchingWithOptions:)`: registration after launch
    /// is refused by the system.
    static func register(core: TellusApp?) {
        for identifier in [processingTask, refreshTask] {
            BGTaskScheduler.shared.register(forTaskWithIdentifier: identifier, using: nil) { task in
                run(task, core: core)
            }
        }
    }

    /// Asks for time to sync; called at launch, when a story becomes ready, and when the
    /// app goes to the background. Submitting again replaces the earlier request.
    static func schedule() {
        let processing = BGProcessingTaskRequest(identifier: processingTask)
        processing.requiresNetworkConnectivity = true
        processing.requiresExternalPower = false
        let refresh = BGAppRefreshTaskRequest(identifier: refreshTask)
        refresh.earliestBeginDate = Date(timeIntervalSinceNow: 15 * 60)
        for request: BGTaskRequest in [processing, refresh] {
            do {
                try BGTaskScheduler.shared.submit(request)
            } catch {
                // Refused in the simulator and when Background App Refresh is off: the app
                // still syncs in the foreground and from the network monitor.
                NSLog("Tellus: background sync not scheduled: \(error.localizedDescription)")
            }
        }
    }

    private static func run(_ task: BGTask, core: TellusApp?) {
        schedule() // the next window, whatever happens in this one
        guard let core else {
            task.setTaskCompleted(success: false)
            return
        }
        let work = Task {
            do {
                let report: SyncReportView = try await core.syncNow()
                task.setTaskCompleted(success: report.parked.isEmpty)
            } catch {
                task.setTaskCompleted(success: false)
            }
        }
        // The system ends our time: stop at the next safe point; syncNow then fails with
        // Cancelled and completes the task above. What was sent is kept, and the next sync
        // resumes from the server's offset.
        task.expirationHandler = {
            _ = core.cancelSync()
            work.cancel()
        }
    }
}
