// HTTPS and logs through the real tellus-ffi library from Kotlin on the JVM, against the
// `tellus serve --tls-cert` servers tests/ffi/run.sh starts with certificates made for the
// run: the core's one trust decision with the default trust (the test CA, trusted by a
// debug build through TELLUS_DEBUG_TRUST_CA), a self-signed server through the pin its
// invite link carries, a wrong pin and an expired certificate refused; a platform
// transport (java.net.http, as the iOS shell uses URLSession) whose TLS check asks the
// core (checkServerCertificate) and nothing else; and the LogSink a shell sends to logcat.

import kotlinx.coroutines.runBlocking
import org.tellus.core.*
import java.io.File
import java.net.Socket
import java.net.URI
import java.net.URLEncoder
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.nio.file.Files
import java.nio.file.Path
import java.security.cert.CertificateException
import java.security.cert.X509Certificate
import java.util.Base64
import java.util.Collections
import javax.net.ssl.SSLContext
import javax.net.ssl.SSLEngine
import javax.net.ssl.X509ExtendedTrustManager

private fun env(name: String) = System.getenv(name) ?: error("$name is not set")
private val pki = env("TELLUS_TLS_DIR")
private val selfPin = env("TELLUS_TLS_SELF_PIN")
private val otherPin = env("TELLUS_TLS_OTHER_PIN")
private val caUrl = env("TELLUS_TLS_CA_SIGNED_URL")
private val selfUrl = env("TELLUS_TLS_SELF_SIGNED_URL")
private val expiredUrl = env("TELLUS_TLS_EXPIRED_URL")
// Python takes the first five of each server's invites; Kotlin the rest.
private fun invites(name: String) = ArrayDeque(env("TELLUS_TLS_${name}_INVITES").split(",").drop(5))
private val caInvites = invites("CA_SIGNED")
private val selfInvites = invites("SELF_SIGNED")
private val expiredInvites = invites("EXPIRED")

private fun link(url: String, code: String, pin: String? = null): String {
    val enc = { s: String -> URLEncoder.encode(s, Charsets.UTF_8) }
    return "tellus://enrol?server=${enc(url)}&code=${enc(code)}" + (pin?.let { "&pin=${enc(it)}" } ?: "")
}

/** The DER of the certificate in PKI/NAME.pem. */
private fun der(name: String): ByteArray {
    val pem = File(pki, "$name.pem").readText()
    val body = pem.substringAfter("-----BEGIN CERTIFICATE-----").substringBefore("-----END CERTIFICATE-----")
    return Base64.getMimeDecoder().decode(body)
}

private fun readyStory(app: TellusApp): StoryView {
    val story = app.createStory("Heard over HTTPS", "Participant 4")
    app.giveConsent(story.id, app.consentForm(listOf("en")), consentChoices("record"))
    return app.markReady(story.id)
}

/**
 * A platform transport whose TLS trust is the core's: the trust manager hands the
 * server's chain to checkServerCertificate with the pin the request carries, and does
 * nothing else (an X509ExtendedTrustManager also owns the host name check, so the JDK's
 * own is not applied on top).
 */
private class CoreTrustingTransport : PlatformTransport {
    val refusals: MutableList<String> = Collections.synchronizedList(mutableListOf())
    private val restricted = setOf("content-length", "host", "connection", "expect", "upgrade")

    private inner class CoreTrust(private val pin: String?) : X509ExtendedTrustManager() {
        override fun checkServerTrusted(chain: Array<X509Certificate>, authType: String, engine: SSLEngine) {
            try {
                checkServerCertificate(engine.peerHost, chain.map { it.encoded }, pin)
            } catch (e: TellusException.ServerNotTrusted) {
                refusals += e.message ?: "not trusted"
                throw CertificateException(e.message)
            }
        }
        override fun checkServerTrusted(chain: Array<X509Certificate>, authType: String, socket: Socket) =
            throw CertificateException("sockets are not used")
        override fun checkServerTrusted(chain: Array<X509Certificate>, authType: String) =
            throw CertificateException("no host to check")
        override fun checkClientTrusted(chain: Array<X509Certificate>, authType: String, engine: SSLEngine) =
            throw CertificateException("a client")
        override fun checkClientTrusted(chain: Array<X509Certificate>, authType: String, socket: Socket) =
            throw CertificateException("a client")
        override fun checkClientTrusted(chain: Array<X509Certificate>, authType: String) =
            throw CertificateException("a client")
        override fun getAcceptedIssuers(): Array<X509Certificate> = emptyArray()
    }

    override suspend fun send(request: PlatformRequest): PlatformResponse {
        val tls = SSLContext.getInstance("TLS").apply { init(null, arrayOf(CoreTrust(request.serverPin)), null) }
        val client = HttpClient.newBuilder().sslContext(tls).build()
        val body = request.bodyFile?.let { HttpRequest.BodyPublishers.ofFile(Path.of(it)) }
            ?: HttpRequest.BodyPublishers.noBody()
        val builder = HttpRequest.newBuilder(URI.create(request.url)).method(request.method, body)
        for (header in request.headers) if (header.name !in restricted) builder.header(header.name, header.value)
        val response = try {
            client.send(builder.build(), HttpResponse.BodyHandlers.ofByteArray())
        } catch (e: java.io.IOException) {
            refusals.lastOrNull()?.let { throw TellusException.ServerNotTrusted(it) }
            throw TellusException.Network("${e.javaClass.simpleName}: ${e.message}")
        }
        val headers = response.headers().map().flatMap { (name, values) -> values.map { HttpHeader(name, it) } }
        return PlatformResponse(response.statusCode().toUShort(), headers, response.body())
    }
}

private open class Collect : LogSink {
    val records: MutableList<LogRecord> = Collections.synchronizedList(mutableListOf())
    override fun log(record: LogRecord) { records += record }
}

private class Throwing : Collect() {
    override fun log(record: LogRecord) {
        super.log(record)
        throw IllegalStateException("the shell's logger failed")
    }
}

fun tlsTests() {
    check("TLS: the default trust enrols and syncs with a CA-signed server") {
        freshApp().use { app ->
            runBlocking { app.enrol(caUrl, caInvites.removeFirst(), "Kotlin TLS phone") }
            val story = readyStory(app)
            val report = runBlocking { app.syncNow() }
            expect(report.documentsSent == 1u) { "$report" }
            expect(app.deliveryState(story.id) == DeliveryStateView.Delivered(false)) { "${app.deliveryState(story.id)}" }
        }
    }

    check("TLS: a self-signed server is trusted through the pin of its invite link, and only so") {
        freshApp().use { app ->
            val code = selfInvites.removeFirst()
            val bare = expectThrows<TellusException.ServerNotTrusted> { runBlocking { app.enrol(selfUrl, code, "Phone") } }
            expect(bare.message?.contains("self-signed") == true) { "${bare.message}" }
            runBlocking { app.enrol("", link(selfUrl, code, selfPin), "Phone") }
            readyStory(app)
            expect(runBlocking { app.syncNow() }.documentsSent == 1u) { "nothing sent" }
        }
    }

    check("TLS: a wrong pin and an expired certificate are refused, spending no invite") {
        freshApp().use { app ->
            val code = selfInvites.removeFirst()
            val wrong = expectThrows<TellusException.ServerNotTrusted> {
                runBlocking { app.enrol("", link(selfUrl, code, otherPin), "Phone") }
            }
            expect(wrong.message?.contains("not the one the invite pinned") == true) { "${wrong.message}" }
            val expired = expectThrows<TellusException.ServerNotTrusted> {
                runBlocking { app.enrol(expiredUrl, expiredInvites.removeFirst(), "Phone") }
            }
            expect(expired.message?.contains("expired on") == true) { "${expired.message}" }
            expect(app.account() == null) { "an account was kept" }
            runBlocking { app.enrol("", link(selfUrl, code, selfPin), "Phone") }
        }
    }

    check("TLS: checkServerCertificate, the platform transports' question, gives the same verdicts") {
        checkServerCertificate("127.0.0.1", listOf(der("ca-signed")), null)
        checkServerCertificate("127.0.0.1", listOf(der("self-signed")), selfPin)
        for ((name, pin, why) in listOf(
            Triple("self-signed", null, "self-signed"),
            Triple("self-signed", otherPin, "not the one the invite pinned"),
            Triple("expired", null, "expired on"),
        )) {
            val e = expectThrows<TellusException.ServerNotTrusted> { checkServerCertificate("127.0.0.1", listOf(der(name)), pin) }
            expect(e.message?.contains(why) == true) { "$name: ${e.message}" }
        }
    }

    check("TLS: a platform transport asking the core delivers to a pinned server and refuses a wrong key") {
        val transport = CoreTrustingTransport()
        val dir = Files.createTempDirectory("tellus-kt-tls").toString()
        TellusApp.openWithTransport(dir, transport).use { app ->
            runBlocking { app.enrol("", link(selfUrl, selfInvites.removeFirst(), selfPin), "Phone") }
            val story = readyStory(app)
            runBlocking { app.syncNow() }
            expect(app.deliveryState(story.id) == DeliveryStateView.Delivered(false)) { "${app.deliveryState(story.id)}" }
            expect(transport.refusals.isEmpty()) { "${transport.refusals}" }
        }
        TellusApp.openWithTransport(Files.createTempDirectory("tellus-kt-tls").toString(), transport).use { app ->
            val refused = expectThrows<TellusException.ServerNotTrusted> {
                runBlocking { app.enrol("", link(selfUrl, caInvites.first(), otherPin), "Phone") }
            }
            expect(refused.message?.contains("not the one the invite pinned") == true) { "${refused.message}" }
        }
    }

    check("logs: the LogSink hears the core at the level asked for, and nothing personal") {
        val sink = Collect()
        setLogSink(sink, LogLevel.DEBUG)
        try {
            freshApp().use { app ->
                val code = caInvites.removeFirst()
                runBlocking { app.enrol(caUrl, code, "Kotlin log phone") }
                val story = app.createStory("TitleNeverLogged", "LabelNeverLogged")
                app.giveConsent(story.id, app.consentForm(listOf("en")), consentChoices("record", "credit_by_name", name = "NameNeverLogged"))
                app.addNote(story.id, "NoteNeverLogged", 500UL)
                app.markReady(story.id)
                runBlocking { app.syncNow() }
                val records = synchronized(sink.records) { sink.records.toList() }
                expect(records.any { it.target.startsWith("tellus_core::sync") && it.message.contains("sync finished") }) {
                    records.joinToString("\n") { it.message }
                }
                expect(records.any { it.level == LogLevel.DEBUG }) { "no debug record" }
                val text = records.joinToString("\n") { "${it.target} ${it.message}" }
                for (secret in listOf("NeverLogged", code, code.replace("-", ""))) {
                    expect(secret !in text) { "the logs hold $secret: $text" }
                }
            }
        } finally {
            setLogSink(null, LogLevel.ERROR)
        }
    }

    check("logs: a LogSink that throws stops nothing and keeps receiving") {
        val sink = Throwing()
        setLogSink(sink, LogLevel.TRACE)
        try {
            freshApp().use { app ->
                val story = app.createStory("A title", "A label")
                repeat(2) { expectThrows<TellusException.NotEnrolled> { runBlocking { app.syncNow() } } }
                expect(app.story(story.id).title == "A title") { "the story" }
                val warnings = synchronized(sink.records) { sink.records.count { it.level == LogLevel.WARN } }
                expect(warnings >= 2) { "the sink stopped hearing after it threw: ${sink.records.map { it.message }}" }
            }
        } finally {
            setLogSink(null, LogLevel.ERROR)
        }
    }
}
