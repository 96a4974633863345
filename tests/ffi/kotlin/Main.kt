// Runs every Kotlin FFI suite against the real library and prints the line
// scripts/test.sh counts ("kotlin: N passed, N failed").

import kotlin.system.exitProcess

fun main() {
    storeJourneyTests()
    recorderTests()
    syncJourneyTests()
    secretStoreTests()
    tlsTests()
    boundaryTests()
    shellApiTests()
    withdrawalTests()
    receiptTests()
    println("kotlin: $passed passed, ${failures.size} failed")
    if (failures.isNotEmpty()) exitProcess(1)
}
