// What the reporter reads for the core's states and errors, in one place, so every screen
// says the same thing.
import Foundation

extension DeliveryStateView {
    /// The story list's line (DESIGN.md §1.5).
    public var label: String {
        switch self {
        case .onlyOnThisPhone: return "Only on this phone"
        case .uploading(let percent): return "Uploading \(percent) %"
        case .waitingForConnection(let percent): return "Waiting for a connection · \(percent) % sent"
        case .waitingForUnmetered(let percent): return "Audio waits for Wi-Fi · \(percent) % sent"
        case .waitingToRetry(let percent, _, let reason): return "Trying again soon · \(percent) % sent: \(reason)"
        case .cancelled(let percent): return "Cancelled · \(percent) % on the server"
        case .delivered(let localAudioRemoved):
            return localAudioRemoved ? "Delivered · audio removed from this phone" : "Delivered"
        case .needsAttention(let reason): return "Needs attention: \(reason)"
        case .withdrawn(let propagated):
            return propagated ? "Withdrawn" : "Withdrawn · the server is told at the next sync"
        }
    }
}

extension TellusError {
    /// The message to show; the core writes them without story text, names or consent.
    public var message: String {
        switch self {
        case .InvalidInput(let reason), .ConsentMissing(let reason), .NotEnrolled(let reason),
             .Audio(let reason), .Network(let reason), .ServerRefused(let reason),
             .Cancelled(let reason), .Storage(let reason), .SecretStoreUnavailable(let reason),
             .ServerNotTrusted(let reason):
            return reason
        case .NotFound(let what, let id):
            return "No \(what) with id \(id) on this phone"
        }
    }

    /// Whether trying again later can help (the app's scheduled sync will).
    public var isTransient: Bool {
        switch self {
        case .Network, .SecretStoreUnavailable: return true // the Keychain unlocks later
        default: return false
        }
    }
}

/// Any error, as one line for the reporter.
public func describe(_ error: Error) -> String {
    if let tellus = error as? TellusError { return tellus.message }
    return error.localizedDescription
}

/// An audio position as the reporter reads it: "4:05" or "1:02:03".
public func formatPosition(ms: UInt64) -> String {
    let total = ms / 1000
    let (h, m, s) = (total / 3600, (total / 60) % 60, total % 60)
    return h > 0 ? String(format: "%d:%02d:%02d", h, m, s) : String(format: "%d:%02d", m, s)
}
