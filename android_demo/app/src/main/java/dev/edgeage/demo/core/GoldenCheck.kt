package dev.edgeage.demo.core

/**
 * The start-up self-check: the model card stores the ages its file gives (on the export machine) for
 * a few seeded synthetic faces; the app runs the same faces through this phone's interpreter and
 * compares before it scores anyone. A device-specific kernel fault (an emulated SME CPU made
 * LiteRT's XNNPACK int8 path return one age for every face) then shows here, and the app falls back
 * to the interpreter without XNNPACK when that reproduces the card's `ages_safe`.
 *
 * The inputs are made exactly as `edge_age.runtime.golden.golden_inputs` makes them (integer
 * arithmetic on a SplitMix64 stream); the JVM test compares the bytes with Python's.
 */
data class Golden(
    val n: Int, val seed: Long, val ages: FloatArray, val agesSafe: FloatArray, val tolerance: Float,
    /** The safe path's bound: its reference kernels round differently on each architecture. */
    val toleranceSafe: Float = tolerance,
)

enum class Choice { DEFAULT, SAFE, REFUSE }

object GoldenCheck {
    /** Median |got - want| within [tolerance] (a median, so one input near a rounding edge is no alarm). */
    fun reproduces(got: FloatArray, want: FloatArray, tolerance: Float): Boolean {
        require(got.size == want.size) { "${got.size} ages for ${want.size} golden inputs" }
        val d = got.indices.map { kotlin.math.abs(got[it] - want[it]) }.sorted()
        val median = if (d.size % 2 == 1) d[d.size / 2] else (d[d.size / 2 - 1] + d[d.size / 2]) / 2
        return median <= tolerance
    }

    /**
     * Which interpreter to use: [runDefault] / [runSafe] give the ages of the golden inputs. When the
     * user turned XNNPACK off ([defaultIsSafe]), the interpreter asked for already is the safe path: its
     * ages are compared with the card's `ages_safe` (XNNPACK's would differ by its own rounding), and
     * there is nothing further to fall back to.
     */
    fun choose(golden: Golden, runDefault: () -> FloatArray, runSafe: () -> FloatArray,
               defaultIsSafe: Boolean = false): Choice = when {
        defaultIsSafe -> if (reproduces(runDefault(), golden.agesSafe, golden.toleranceSafe)) Choice.DEFAULT else Choice.REFUSE
        reproduces(runDefault(), golden.ages, golden.tolerance) -> Choice.DEFAULT
        reproduces(runSafe(), golden.agesSafe, golden.toleranceSafe) -> Choice.SAFE
        else -> Choice.REFUSE
    }

    /** The golden faces: [n] RGB images of [size] x [size], row-major, 3 bytes a pixel. */
    fun inputs(size: Int, n: Int = 8, seed: Long = 0): List<RgbImage> {
        val rng = Draws(seed)
        return List(n) {
            val skin = rng.ints(60, 235, 3)
            val back = rng.ints(0, 255, 3)
            val cx = size * rng.int(40, 60) / 100
            val cy = size * rng.int(42, 58) / 100
            val ax = size * rng.int(28, 40) / 100
            val ay = size * rng.int(36, 48) / 100
            val shade = rng.int(0, 60)
            val fade = rng.int(0, 40)
            val eyeDx = ax * 4 / 10
            val eyeY = cy - ay / 5
            val r = maxOf(1, size / 20)
            val mouthHalfW = ax * 4 / 10
            val mouthY = cy + ay * 5 / 10
            val mouthHalfH = maxOf(1, size / 40)
            val amp = rng.int(1, 30)
            val noise = rng.ints(0, 2 * amp, size * size * 3)
            val px = ByteArray(size * size * 3)
            for (y in 0 until size) for (x in 0 until size) for (c in 0 until 3) {
                val dx = (x - cx).toLong()
                val dy = (y - cy).toLong()
                val inFace = dx * dx * ay * ay + dy * dy * ax * ax <= (ax.toLong() * ay) * (ax.toLong() * ay)
                var v = if (inFace) skin[c] + y * fade / size else back[c] + y * shade / size
                for (ex in intArrayOf(cx - eyeDx, cx + eyeDx)) {
                    if ((x - ex) * (x - ex) + (y - eyeY) * (y - eyeY) <= r * r) v = skin[c] / 4
                }
                if (kotlin.math.abs(x - cx) <= mouthHalfW && kotlin.math.abs(y - mouthY) <= mouthHalfH) v = skin[c] / 2
                val i = (y * size + x) * 3 + c
                px[i] = (v + noise[i] - amp).coerceIn(0, 255).toByte()
            }
            RgbImage(size, size, px)
        }
    }

    /** Integers in [lo, hi] from one SplitMix64 stream: lo + draw mod (hi - lo + 1), the draw unsigned. */
    private class Draws(private val seed: Long) {
        private var used = 0L

        fun ints(lo: Int, hi: Int, count: Int): IntArray = IntArray(count) { int(lo, hi) }

        fun int(lo: Int, hi: Int): Int {
            used += 1
            var z = seed + GAMMA * used
            z = (z xor (z ushr 30)) * MIX1
            z = (z xor (z ushr 27)) * MIX2
            z = z xor (z ushr 31)
            return lo + java.lang.Long.remainderUnsigned(z, (hi - lo + 1).toLong()).toInt()
        }
    }

    private const val GAMMA = -0x61c8864680b583ebL  // 0x9E3779B97F4A7C15
    private const val MIX1 = -0x40a7b892e31b1a47L  // 0xBF58476D1CE4E5B9
    private const val MIX2 = -0x6b2fb644ecceee15L  // 0x94D049BB133111EB
}
