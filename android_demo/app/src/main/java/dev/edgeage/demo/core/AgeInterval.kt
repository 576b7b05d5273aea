package dev.edgeage.demo.core

/**
 * The card's per-face 80% interval (`edge_age.runtime.intervals`): per band of the predicted age, the 10th and
 * 90th percentiles of the file's own val errors; a face's interval is its age minus those, never below 0.
 */
data class IntervalBands(val level: Float, val from: IntArray, val errLow: FloatArray, val errHigh: FloatArray) {
    init {
        require(from.isNotEmpty() && from[0] == 0 && (1 until from.size).all { from[it] > from[it - 1] }) {
            "interval bands must start from 0 and rise: ${from.toList()}"
        }
        require(errLow.size == from.size && errHigh.size == from.size) { "one err [low, high] per interval band" }
    }

    /** [low, high] for an estimated [age]. */
    fun of(age: Float): FloatArray {
        var b = 0
        while (b + 1 < from.size && age >= from[b + 1]) b++
        return floatArrayOf(maxOf(0f, age - errHigh[b]), maxOf(0f, age - errLow[b]))
    }
}
