"""The exercises' answers, for the tests of the student edition and of nbgrader's grading.

ANSWERS: each value-answer's value per chapter, by hand (the oracle the release is grepped for).
FORMULAS: the literal formulas the old check cells showed. WRONG: one deliberately wrong answer
per chapter, which must cost exactly that exercise's points. HALF: one answer that breaks one part
of an exercise of several parts, which must cost exactly that part's points.
"""

# Each value-answer's value, by hand (the oracle). The issue: check cells held them as literals.
ANSWERS = {
    "01": {"layers_for_11": 5, "smallest_bad": 6},
    "02": {"layers_to_halve": 3, "trainable_after_freezing": 93_253},
    "03": {"log10_thinned": 853},
    "04": {"learned": 128, "stored": 129},
    "05": {"variants": 162},
    "06": {"width_for_2x2": 36, "largest_hidden": 75},
    "07": {"conv2_saving": 307_200},
    "08": {"saving_5": 0.28, "best_R": 154},
    "09": {"blocks_for_200": 36},
    "10": {"digits_head": 2570},  # 256 features (the shipped source) x 10 + 10
    "11": {"grad_inverted": 0.99},
}
FORMULAS = ["5 * 5 * 48 * 256", "5*5*48*256", "18 / 25", "18/25"]

# One deliberately wrong answer per chapter: (exercise number, text in its solution, wrong text).
WRONG = {
    "01": (1, "return (W - F + 2 * P) // S + 1", "return (W - F + 2 * P) // S"),
    "02": (1, "return math.sqrt(2 / fan_in)", "return math.sqrt(1 / fan_in)"),
    "03": (4, "(784 + 1024 + 1024)", "(784 + 1024 + 1024 + 10)"),
    "04": (4, "learned = 2 * 64", "learned = 64"),
    "05": (4, "variants = (2 * 4 + 1) ** 2 * 2", "variants = (2 * 4) ** 2 * 2"),
    "06": (2, "F * F * len(inputs) + 1 for", "F * F * len(inputs) for"),
    "07": (1, "F * F * C_in * K + K", "F * F * C_in * K"),
    "08": (3, "total += channels * W * W", "total += W * W"),
    "09": (3, "resnet_depth((3, 24, x, 3), True) == 200", "resnet_depth((3, 24, x, 3), True) == 203"),
    "10": (1, "digits_head = head_parameters(source.fc.in_features, 10)",
           "digits_head = head_parameters(source.fc.in_features, 5)"),
    "11": (3, "grad_inverted = 1 - p_source", "grad_inverted = p_source"),
    "12": (1, "return (F(G(x)) - x).abs().mean()", "return ((F(G(x)) - x) ** 2).mean()"),
    "13": (1, "(1 / wavelength, theta,", "(wavelength, theta,"),
}

# One answer that breaks one part of an exercise of several parts (cnnlib.exercises.Parts), for the
# chapters tests/test_nbgrader.py autogrades by default and chapter 8 (issue 20's example):
# (exercise number, text in its solution, wrong text, the points the exercise then earns).
HALF = {
    "06": (1, "width_for_2x2 = 36", "width_for_2x2 = 35", 1.0),  # lenet_widths still right: 1 of 2
    "08": (1, "return 1 + n * (F - 1)", "return n * (F - 1)", 2.0),  # single_size wrong: 2 of 3
    "13": (2, "hot_relu5_dead = dead_fraction(", "hot_relu5_dead = 2 + dead_fraction(", 1.0),  # 1 of 2
}
