// The FFI platform transport (bindings/ffi/src/transport.rs) over URLSession.
//
// Requests with a body arrive with a chunk FILE the core wrote (at most one chunk of a
// recording, or a JSON document). Those go as file-based upload tasks on a BACKGROUND
// URLSession, so the system keeps uploading while the app is suspended. `send` stays
// pending until the task completes: its continuation is stored under the task's
// identifier and resumed from the delegate. That matters: the core deletes the chunk file
// as soon as `send` returns.
//
// Requests without a body (HEAD for the server's offset, GET of receipts and the project,
// OPTIONS, DELETE) are small and go on an ordinary session: background sessions take only
// upload and download tasks.
//
// Trust: the core decides whom to trust, the same way on every platform
// (check_server_certificate: Mozilla's roots, or only the key the invite pinned for a
// server with a self-signed certificate). Every server-trust challenge of both sessions is
// answered with the core's verdict, never the system's own evaluation or an "allow
// anyway"; a refusal cancels the task and reaches the core as ServerNotTrusted with the
// core's reason.
//
// Relaunch: when the system relaunches the app for this session's events after the app
// was killed with tasks in flight, the tasks have no continuation in this process. Their
// completions are drained and ignored: the core does not trust its own idea of what was
// sent; at the next sync it asks the server for the upload's offset (HEAD) and resumes
// from there, so bytes a stale task did deliver count, and bytes it did not are sent again.
import Foundation
import TellusKit

final class BackgroundUploadTransport: NSObject, PlatformTransport, URLSessionDataDelegate, @unchecked Sendable {
    static let sessionIdentifier = "org.tellus.reporter.uploads"

    /// A request in flight in this process: its continuation and the answer so far.
    private struct Pending {
        let continuation: CheckedContinuation<PlatformResponse, Error>
        let serverPin: String?
        var body = Data()
        /// Set when the core refused the server's certificate.
        var untrusted: String?
    }

    private let lock = NSLock()
    private var pending: [Int: Pending] = [:]
    /// Set by the app delegate when the system relaunched the app for this session; called
    /// once every event was delivered (urlSessionDidFinishEvents).
    private var relaunchCompletion: (() -> Void)?

    /// Set once in `init`, before any request can arrive.
    private var backgroundSession: URLSession!

    override init() {
        super.init()
        let config = URLSessionConfiguration.background(withIdentifier: Self.sessionIdentifier)
        // The core chooses what goes on which network (set_network); the system must not
        // defer uploads to "a good time" on its own.
        config.isDiscretionary = false
        config.sessionSendsLaunchEvents = true
        config.allowsCellularAccess = true
        // One chunk per task: a stalled chunk fails within minutes and the core resumes
        // from the server's offset, instead of the single-flight sync waiting for days.
        config.timeoutIntervalForRequest = 60
        config.timeoutIntervalForResource = 30 * 60
        config.httpMaximumConnectionsPerHost = 1
        // Creating the session with its identifier also reconnects to tasks an earlier
        // process left in flight; their events arrive at this delegate.
        backgroundSession = URLSession(configuration: config, delegate: self, delegateQueue: nil)
    }

    private let plainSession: URLSession = {
        let config = URLSessionConfiguration.ephemeral
        config.timeoutIntervalForRequest = 30
        config.timeoutIntervalForResource = 120
        config.waitsForConnectivity = false
        return URLSession(configuration: config)
    }()

    /// The core's verdict on a server-trust challenge (other challenges: the default).
    /// Returns the refusal's reason when the core did not trust the server.
    static func answer(_ challenge: URLAuthenticationChallenge, serverPin: String?)
        -> (URLSession.AuthChallengeDisposition, URLCredential?, String?) {
        guard challenge.protectionSpace.authenticationMethod == NSURLAuthenticationMethodServerTrust,
              let trust = challenge.protectionSpace.serverTrust else {
            return (.performDefaultHandling, nil, nil)
        }
        let certificates = (SecTrustCopyCertificateChain(trust) as? [SecCertificate]) ?? []
        let chain: [Data] = certificates.map { SecCertificateCopyData($0) as Data }
        do {
            try checkServerCertificate(host: challenge.protectionSpace.host, chain: chain, serverPin: serverPin)
            return (.useCredential, URLCredential(trust: trust), nil)
        } catch TellusError.ServerNotTrusted(reason: let reason) {
            return (.cancelAuthenticationChallenge, nil, reason)
        } catch {
            return (.cancelAuthenticationChallenge, nil, "\(error)")
        }
    }

    /// The trust answer for one request on the plain session.
    private final class TrustDelegate: NSObject, URLSessionTaskDelegate, @unchecked Sendable {
        let serverPin: String?
        var refusal: String?
        init(serverPin: String?) { self.serverPin = serverPin }

        func urlSession(_ session: URLSession, task: URLSessionTask,
                        didReceive challenge: URLAuthenticationChallenge,
                        completionHandler: @escaping (URLSession.AuthChallengeDisposition, URLCredential?) -> Void) {
            let (disposition, credential, refusal) = BackgroundUploadTransport.answer(challenge, serverPin: serverPin)
            self.refusal = refusal
            completionHandler(disposition, credential)
        }
    }

    /// From `application(_:handleEventsForBackgroundURLSession:completionHandler:)`.
    func handleRelaunch(identifier: String, completion: @escaping () -> Void) {
        guard identifier == Self.sessionIdentifier else {
            completion()
            return
        }
        lock.withLock { relaunchCompletion = completion }
    }

    // MARK: PlatformTransport

    func send(request: PlatformRequest) async throws -> PlatformResponse {
        guard let url = URL(string: request.url) else {
            throw TellusError.InvalidInput(reason: "the server address is not a URL")
        }
        var urlRequest = URLRequest(url: url)
        urlRequest.httpMethod = request.method
        for header: HttpHeader in request.headers where !Self.setBySystem.contains(header.name) {
            urlRequest.setValue(header.value, forHTTPHeaderField: header.name)
        }
        guard let bodyFile: String = request.bodyFile else {
            return try await sendWithoutBody(urlRequest, serverPin: request.serverPin)
        }
        let file = URL(fileURLWithPath: bodyFile)
        let size = (try? FileManager.default.attributesOfItem(atPath: bodyFile)[.size] as? NSNumber)?.uint64Value
        guard size == request.bodyLength else {
            throw TellusError.Network(reason: "the chunk file is not the size the core prepared")
        }
        let task = backgroundSession.uploadTask(with: urlRequest, fromFile: file)
        // When the core drops this request (cancel_sync, the app's background time ending),
        // uniffi cancels this Swift task: cancel the upload too, which completes it with an
        // error and resumes the continuation. Nothing waits forever.
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                lock.withLock {
                    pending[task.taskIdentifier] = Pending(continuation: continuation, serverPin: request.serverPin)
                }
                task.resume()
            }
        } onCancel: {
            task.cancel()
        }
    }

    /// URLSession sets these from the request and the file itself.
    private static let setBySystem: Set<String> = ["content-length", "host", "connection"]

    private func sendWithoutBody(_ request: URLRequest, serverPin: String?) async throws -> PlatformResponse {
        let trust = TrustDelegate(serverPin: serverPin)
        do {
            let (data, response) = try await plainSession.data(for: request, delegate: trust)
            guard let http = response as? HTTPURLResponse else {
                throw TellusError.Network(reason: "the server's answer was not HTTP")
            }
            return Self.platformResponse(http, body: data)
        } catch let error as TellusError {
            throw error
        } catch {
            if let reason = trust.refusal {
                throw TellusError.ServerNotTrusted(reason: reason)
            }
            throw TellusError.Network(reason: "\(type(of: error)): \(error.localizedDescription)")
        }
    }

    private static func platformResponse(_ http: HTTPURLResponse, body: Data) -> PlatformResponse {
        var headers: [HttpHeader] = []
        for (name, value) in http.allHeaderFields {
            let text = (name as? String) ?? "\(name)"
            headers.append(HttpHeader(name: text.lowercased(), value: (value as? String) ?? "\(value)"))
        }
        return PlatformResponse(status: UInt16(clamping: http.statusCode), headers: headers, body: body)
    }

    // MARK: URLSessionDataDelegate

    func urlSession(_ session: URLSession, task: URLSessionTask,
                    didReceive challenge: URLAuthenticationChallenge,
                    completionHandler: @escaping (URLSession.AuthChallengeDisposition, URLCredential?) -> Void) {
        let pin = lock.withLock { pending[task.taskIdentifier]?.serverPin }
        let (disposition, credential, refusal) = Self.answer(challenge, serverPin: pin)
        if let refusal {
            lock.withLock { pending[task.taskIdentifier]?.untrusted = refusal }
        }
        completionHandler(disposition, credential)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        lock.withLock { pending[dataTask.taskIdentifier]?.body.append(data) }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        // A task of an earlier process (after a relaunch) has no entry: drained, ignored.
        guard let done = lock.withLock({ pending.removeValue(forKey: task.taskIdentifier) }) else { return }
        if let refusal = done.untrusted {
            done.continuation.resume(throwing: TellusError.ServerNotTrusted(reason: refusal))
        } else if let error {
            done.continuation.resume(throwing: TellusError.Network(reason: "the upload did not complete: \(error.localizedDescription)"))
        } else if let http = task.response as? HTTPURLResponse {
            done.continuation.resume(returning: Self.platformResponse(http, body: done.body))
        } else {
            done.continuation.resume(throwing: TellusError.Network(reason: "no answer from the server"))
        }
    }

    func urlSessionDidFinishEvents(forBackgroundURLSession session: URLSession) {
        let completion = lock.withLock { () -> (() -> Void)? in
            defer { relaunchCompletion = nil }
            return relaunchCompletion
        }
        // The system wants this on the main thread; it then takes a new app snapshot.
        DispatchQueue.main.async { completion?() }
    }
}
