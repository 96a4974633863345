// The story list's cost through the FFI (issue 23), from Kotlin on the JVM against the
// real library: one batched call (`storyPage(500)`: 500 stories with their delivery
// states in one read) against what the list did before (`listStories(500)` and then
// `deliveryState` for each of the 500 rows), alternating, measured while a sync of those
// stories to a real `tellus serve` reports progress, and again with nothing else running.
// Prints medians and the ratio (per-row over batched). Run by scripts/bench-story-list.sh.

import kotlinx.coroutines.runBlocking
import org.tellus.core.*
import java.nio.file.Files
import java.util.concurrent.atomic.AtomicInteger
import kotlin.concurrent.thread

private fun median(xs: List<Long>) = xs.sorted().let { if (it.isEmpty()) 0L else it[it.size / 2] }

private fun timeNs(body: () -> Unit): Long {
    val start = System.nanoTime()
    body()
    return System.nanoTime() - start
}

private fun perRow(app: TellusApp): Int {
    val items = app.listStories(500u, null)
    var n = 0
    for (item in items) {
        app.deliveryState(item.id)
        n++
    }
    return n
}

private fun batched(app: TellusApp): Int = app.storyPage(500u, null).size

/** Alternates the two ways `rounds` times (or while `keepGoing`), returns both timings. */
private fun measure(app: TellusApp, rounds: Int, keepGoing: () -> Boolean): Pair<List<Long>, List<Long>> {
    val one = mutableListOf<Long>()
    val many = mutableListOf<Long>()
    var i = 0
    while (i < rounds && keepGoing()) {
        var rows = 0
        one += timeNs { rows = batched(app) }
        check(rows == 500) { "the page held $rows stories" }
        many += timeNs { rows = perRow(app) }
        check(rows == 500) { "the list held $rows stories" }
        i++
    }
    return one to many
}

private fun report(label: String, one: List<Long>, many: List<Long>) {
    val b = median(one) / 1e6
    val s = median(many) / 1e6
    println("%-28s rounds %3d   batched %8.2f ms   per-row %8.2f ms   ratio %6.1fx".format(label, one.size, b, s, s / b))
}

fun main() {
    val server = System.getenv("TELLUS_SERVER_URL") ?: error("TELLUS_SERVER_URL is not set")
    val invite = System.getenv("TELLUS_BENCH_INVITE") ?: error("TELLUS_BENCH_INVITE is not set")
    val rounds = (System.getenv("TELLUS_BENCH_ROUNDS") ?: "30").toInt()
    val app = TellusApp.open(Files.createTempDirectory("tellus-bench-list").toString())
    runBlocking { app.enrol(server, invite, "Benchmark phone") }
    val form = app.consentForm(listOf("en"))
    val choices = ConsentChoices(listOf("record"), ConsentHow.AppCheckbox, "Benchmark reporter", null, null)
    // 500 stories: every one ready with consent, so the sync below has 1,000 requests to
    // make (a consent event and a document each) and reports progress story by story.
    val ids = (1..500).map { i ->
        val story = app.createStory("Story $i", "Participant $i")
        app.giveConsent(story.id, form, choices)
        app.addNote(story.id, "A note on story $i", 1_000UL)
        app.markReady(story.id).id
    }
    check(ids.size == 500)
    // Warm up both paths (JIT, SQLite's page cache) before any timing.
    measure(app, 5) { true }

    val reports = AtomicInteger()
    val observing = app.observeSync(object : SyncObserver {
        override fun syncProgress(progress: SyncProgressView) { reports.incrementAndGet() }
    })
    val syncing = java.util.concurrent.atomic.AtomicBoolean(true)
    val sync = thread(name = "sync") {
        try {
            val r = runBlocking { app.syncNow() }
            check(r.documentsSent == 500u) { "the sync sent ${r.documentsSent} documents" }
        } finally {
            syncing.set(false)
        }
    }
    // Wait until the sync is reporting, then measure while it runs.
    while (reports.get() < 2 && syncing.get()) Thread.sleep(1)
    val seenBefore = reports.get()
    val (oneDuring, manyDuring) = measure(app, rounds) { syncing.get() }
    val progressDuring = reports.get() - seenBefore
    val stillSyncing = syncing.get()
    sync.join()
    observing.close()
    val (oneQuiet, manyQuiet) = measure(app, rounds) { true }

    println("story list of 500 stories through the FFI (Kotlin/JVM, JNA)")
    report("while a sync reports progress", oneDuring, manyDuring)
    println("  (progress reports during those rounds: $progressDuring; sync still running at the end: $stillSyncing)")
    report("nothing else running", oneQuiet, manyQuiet)
    check(oneDuring.isNotEmpty()) { "the sync ended before a round could be measured: raise the story count" }
}
