// The audio session while recording: category and mode, the microphone permission, and
// interruptions (a call, Siri, an alarm) and route changes (headphones unplugged) turned
// into a pause in the core that the reporter is offered to resume. Recording with the
// screen locked works because Info.plist declares the `audio` background mode and the
// session stays active while the core's capture runs.
import AVFoundation
import Foundation

@MainActor
final class AudioSessionController {
    enum Event {
        /// The system took the microphone (a call) or the input went away: the core was
        /// paused; offer to resume. `canResume` is the system's hint that it is over.
        case paused(reason: String, canResume: Bool)
        /// The interruption ended; the system says resuming is appropriate.
        case resumable
        /// The media services were reset: the capture stream must be started again.
        case servicesReset
    }

    private var observers: [NSObjectProtocol] = []
    var onEvent: ((Event) -> Void)?

    /// Asks for the microphone in context (from the recording screen, with the usage text
    /// of NSMicrophoneUsageDescription). False when the reporter said no.
    func requestMicrophone() async -> Bool {
        await AVAudioApplication.requestRecordPermission()
    }

    /// Before the core opens the microphone: record (and play back the review) with the
    /// system's speech-friendly processing off (mode default, not voiceChat), keep other
    /// apps' audio from mixing in, allow Bluetooth headsets.
    func activate() throws {
        let session = AVAudioSession.sharedInstance()
        try session.setCategory(.playAndRecord, mode: .default, options: [.allowBluetooth, .defaultToSpeaker])
        try session.setPreferredSampleRate(48_000)
        try session.setActive(true)
        observe(session)
    }

    /// After the recording stopped: give the audio back to other apps.
    func deactivate() {
        for observer in observers { NotificationCenter.default.removeObserver(observer) }
        observers.removeAll()
        try? AVAudioSession.sharedInstance().setActive(false, options: .notifyOthersOnDeactivation)
    }

    private func observe(_ session: AVAudioSession) {
        guard observers.isEmpty else { return }
        let center = NotificationCenter.default
        observers.append(center.addObserver(forName: AVAudioSession.interruptionNotification, object: session, queue: .main) { [weak self] note in
            let info = note.userInfo ?? [:]
            let type = (info[AVAudioSessionInterruptionTypeKey] as? UInt).flatMap(AVAudioSession.InterruptionType.init(rawValue:))
            let options = (info[AVAudioSessionInterruptionOptionKey] as? UInt).map(AVAudioSession.InterruptionOptions.init(rawValue:)) ?? []
            MainActor.assumeIsolated {
                switch type {
                case .began:
                    self?.onEvent?(.paused(reason: String(localized: "Recording paused: the phone needed the microphone (a call or an alarm)."), canResume: false))
                case .ended:
                    if options.contains(.shouldResume) { self?.onEvent?(.resumable) }
                default:
                    break
                }
            }
        })
        observers.append(center.addObserver(forName: AVAudioSession.routeChangeNotification, object: session, queue: .main) { [weak self] note in
            let raw = note.userInfo?[AVAudioSessionRouteChangeReasonKey] as? UInt
            let reason = raw.flatMap(AVAudioSession.RouteChangeReason.init(rawValue:))
            MainActor.assumeIsolated {
                // Headphones or a headset microphone went away: pause rather than carry on
                // recording from another microphone without the reporter knowing.
                if reason == .oldDeviceUnavailable {
                    self?.onEvent?(.paused(reason: String(localized: "Recording paused: the microphone or headphones were disconnected."), canResume: true))
                }
            }
        })
        observers.append(center.addObserver(forName: AVAudioSession.mediaServicesWereResetNotification, object: session, queue: .main) { [weak self] _ in
            MainActor.assumeIsolated { self?.onEvent?(.servicesReset) }
        })
    }
}
