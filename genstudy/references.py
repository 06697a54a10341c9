"""Published figures the study compares against (the papers, public Fashion-MNIST results): literature, not results."""

LABEL_COUNTS = (100, 600, 1000, 3000)

# Kingma et al. 2014, Table 1: MNIST test error (%), M1 + TSVM.
PAPER_MNIST_M1_TSVM_ERROR = {100: (11.82, 0.25), 600: (5.72, 0.049), 1000: (4.24, 0.07), 3000: (3.49, 0.04)}
# The same table's M2 and stacked M1 + M2.
PAPER_MNIST_M2_ERROR = {100: (11.97, 1.71), 600: (4.94, 0.13), 1000: (3.60, 0.56), 3000: (3.92, 0.63)}
PAPER_MNIST_M1_M2_ERROR = {100: (3.33, 0.14), 600: (2.59, 0.05), 1000: (2.40, 0.02), 3000: (2.18, 0.04)}

# Fashion-MNIST test accuracy with N labels.
FASHION_REFERENCES = {
    "best public M1 figures found": {100: 0.7025, 600: 0.7590, 1000: 0.7903, 3000: 0.8138},
    "published course solution": {100: 0.5957, 600: 0.7015, 1000: 0.7093, 3000: 0.7291},
}

# Fashion-MNIST, RBF SVC on raw pixels trained with every label: the ceiling of the raw-pixel baseline.
FASHION_RAW_PIXELS_ALL_LABELS = {"n": 60000, "accuracy": 0.897}
