// Tells the core which network the phone has (DESIGN.md §3: the shell knows the network,
// the core decides what to send) and asks for a sync when a connection appears.
import Foundation
import Network
import TellusKit

final class NetworkMonitor: @unchecked Sendable {
    private let monitor = NWPathMonitor()
    private let queue = DispatchQueue(label: "org.tellus.network")
    private var last: NetworkKind = .none

    /// `onConnected` runs (on a background queue) whenever the phone goes from no network
    /// to some network.
    func start(core: TellusApp, onConnected: @escaping @Sendable () -> Void) {
        monitor.pathUpdateHandler = { [weak self] path in
            guard let self else { return }
            let kind: NetworkKind = Self.kind(of: path)
            core.setNetwork(network: kind)
            let cameOnline = self.last == .none && kind != .none
            self.last = kind
            if cameOnline { onConnected() }
        }
        monitor.start(queue: queue)
    }

    func stop() { monitor.cancel() }

    /// Cellular, a personal hotspot (expensive) and Low Data Mode (constrained) are
    /// metered: audio then waits when the reporter chose Wi-Fi only.
    static func kind(of path: NWPath) -> NetworkKind {
        guard path.status == .satisfied else { return .none }
        if path.isExpensive || path.isConstrained { return .metered }
        return .unmetered
    }
}
