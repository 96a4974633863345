// Runs the presentation layer's tests against the real library and prints the line
// scripts/test.sh counts ("android-presentation: N passed, N failed").
package org.tellus.presentation

import kotlin.system.exitProcess

fun main() {
    consentFormTests()
    recordingStateTests()
    storyListTests()
    secretsTests()
    viewModelTests()
    println("android-presentation: $passed passed, ${failures.size} failed")
    if (failures.isNotEmpty()) exitProcess(1)
}
