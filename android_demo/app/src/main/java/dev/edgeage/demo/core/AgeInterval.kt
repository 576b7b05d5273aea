package dev.edgeage.demo.core

/**
 * The card's per-face 80% interval (`edge_age.runtime.intervals`): per band of the predicted age, the 10th and
 * 90th percentiles of the file's own val errors; a face's interval is its age minus those, never below 0. A card
 * with a scale (points [scaleAt] -> [scale]: the mean error of val faces estimated near each age) stores percentiles
 * of error / scale instead, and they are multiplied by the scale at the face's estimate (linear between the points,
 * flat beyond them), so the width grows with the estimate as in Python.
 */
data class IntervalBands(
    val level: Float,
    val from: IntArray,
    val errLow: FloatArray,
    val errHigh: FloatArray,
    val scaleAt: DoubleArray = DoubleArray(0),
    val scale: DoubleArray = DoubleArray(0),
) {
    init {
        require(from.isNotEmpty() && from[0] == 0 && (1 until from.size).all { from[it] > from[it - 1] }) {
            "interval bands must start from 0 and rise: ${from.toList()}"
        }
        require(errLow.size == from.size && errHigh.size == from.size) { "one err [low, high] per interval band" }
        require(scaleAt.size == scale.size && (1 until scaleAt.size).all { scaleAt[it] > scaleAt[it - 1] }) {
            "interval scale points must rise, one scale each: ${scaleAt.toList()}"
        }
        require(scale.all { it > 0 }) { "interval scales must be above 0: ${scale.toList()}" }
    }

    /** The scale at an estimate: numpy.interp over the points (1 without a scale). */
    fun scaleOf(age: Float): Double {
        if (scaleAt.isEmpty()) return 1.0
        val a = age.toDouble()
        if (a <= scaleAt[0]) return scale[0]
        if (a >= scaleAt[scaleAt.size - 1]) return scale[scale.size - 1]
        var i = 0
        while (a > scaleAt[i + 1]) i++
        val t = (a - scaleAt[i]) / (scaleAt[i + 1] - scaleAt[i])
        return scale[i] + t * (scale[i + 1] - scale[i])
    }

    /** [low, high] for an estimated [age]. */
    fun of(age: Float): FloatArray {
        var b = 0
        while (b + 1 < from.size && age >= from[b + 1]) b++
        val s = scaleOf(age)
        val a = age.toDouble()
        return floatArrayOf(maxOf(0.0, a - errHigh[b] * s).toFloat(), maxOf(0.0, a - errLow[b] * s).toFloat())
    }
}
