import pytest

from pasa.beta import exact_coefficient, paper_coefficient, shift_entries, solve_beta


@pytest.mark.parametrize("formula,start,expected", [
    ("verification", 1 - 2**-5, 0.9689939059), ("verification", 1 - 2**-6, 0.9844970410),
    ("optimal", 1 - 2**-5, 0.9689941406), ("optimal", 1 - 2**-6, 0.9844970703),
    ("optimal", 1 - 2**-4, 0.9375), ("verification", 1 - 2**-4, 0.9375),
])
def test_solver_reproduces_the_authors_fixed_points(formula, start, expected):
    assert solve_beta(start, 128, formula) == pytest.approx(expected, abs=5e-11)


def test_exact_coefficient_recovers_the_row_mean():
    # From the stored fp16 entries: S'_r + c·mean(S') = (d + e)·T_r for any row T.
    for n in (16, 100, 128, 1024):
        for scale in (1.0, 128 ** -0.5):
            d, e = shift_entries(scale, 0.984497, n)
            c = exact_coefficient(scale, 0.984497, n)
            t = [float(i % 7) - 3.0 + 0.25 * i / n for i in range(n)]
            shifted = [(d + e) * x - e * sum(t) for x in t]
            mean = sum(shifted) / n
            for x, y in zip(shifted, t):
                assert x + c * mean == pytest.approx((d + e) * y, rel=1e-4, abs=1e-4)


def test_paper_coefficient_is_fp16_of_beta_ratio():
    assert paper_coefficient(0.984497) == pytest.approx(0.984497 / (1 - 0.984497), rel=2**-11)


def test_bad_solver_arguments():
    with pytest.raises(ValueError, match="formula"):
        solve_beta(0.9, 128, "other")
    with pytest.raises(ValueError, match="beta0"):
        solve_beta(1.5, 128)
