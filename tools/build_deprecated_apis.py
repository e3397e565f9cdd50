"""Build code_unlearn_bench/data/deprecated_apis.json, the project's curated deprecated-API set.

Every entry below is one documented API change: a snippet using the deprecated/removed API (the
forget side) and a snippet using its documented replacement (the retained side). ``⟦name⟧`` marks
the API use that becomes the answer; the builder turns each snippet into a VersiCode-shaped record
(``code``, ``masked_code`` with ``<token_mask>``, ``masked_line``, ``answer``, ``version`` "==x.y")
plus the deprecation facts (``deprecated_api``, ``replacement``, ``deprecated_in``, ``removed_in``,
``reference``: the changelog / release notes stating the change).

Versions: the forget snippet is pinned to the release that deprecated the API (it still runs
there, with a warning) or, when the API was removed without a deprecation period, to the last
release before the removal (``old``); the retained snippet is pinned to the removal release when
there is one, else to the deprecating release.

    python tools/build_deprecated_apis.py        # rewrites the JSON (deterministic)
"""

from __future__ import annotations

import json
import re
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "code_unlearn_bench" / "data" / "deprecated_apis.json"
MARK = re.compile(r"⟦([^⟧]+)⟧")

# (package, deprecated_in, removed_in, deprecated API, replacement, reference, old snippet, new snippet[, old])
C = []


def add(pkg, dep, rem, api, repl, ref, old, new, old_version=None):
    C.append((pkg, dep, rem, api, repl, ref, old, new, old_version))


NP = "import numpy as np\n\n"
NP120 = "NumPy 1.20.0 release notes (deprecated aliases of builtin types); NumPy 1.24.0 release notes (expired deprecations)"
NP125 = "NumPy 1.25.0 release notes (deprecations); NumPy 2.0.0 release notes (NEP 52 namespace cleanup)"
NP20 = "NumPy 2.0.0 release notes (NEP 52 namespace cleanup)"
add("numpy", "1.20.0", "1.24.0", "numpy.float", "float / numpy.float64", NP120,
    NP + "weights = np.ones(4)\nweights = weights.astype(np.⟦float⟧)\n", NP + "weights = np.ones(4)\nweights = weights.astype(np.⟦float64⟧)\n")
add("numpy", "1.20.0", "1.24.0", "numpy.int", "int / numpy.int64", NP120,
    NP + "counts = np.zeros(10, dtype=np.⟦int⟧)\n", NP + "counts = np.zeros(10, dtype=np.⟦int64⟧)\n")
add("numpy", "1.20.0", "1.24.0", "numpy.bool", "bool / numpy.bool_", NP120,
    NP + "mask = np.zeros(5, dtype=np.⟦bool⟧)\n", NP + "mask = np.zeros(5, dtype=np.⟦bool_⟧)\n")
add("numpy", "1.20.0", "1.24.0", "numpy.object", "object", NP120,
    NP + "cells = np.empty(3, dtype=np.⟦object⟧)\n", NP + "cells = np.empty(3, dtype=⟦object⟧)\n")
add("numpy", "1.16.0", "1.23.0", "numpy.asscalar", "numpy.ndarray.item", "NumPy 1.16.0 release notes (deprecations); NumPy 1.23.0 release notes (expired deprecations)",
    NP + "arr = np.array([3.5])\nvalue = np.⟦asscalar⟧(arr)\n", NP + "arr = np.array([3.5])\nvalue = arr.⟦item⟧()\n")
add("numpy", "1.25.0", "2.0.0", "numpy.product", "numpy.prod", NP125,
    NP + "sizes = [2, 3, 4]\ntotal = np.⟦product⟧(sizes)\n", NP + "sizes = [2, 3, 4]\ntotal = np.⟦prod⟧(sizes)\n")
add("numpy", "1.25.0", "2.0.0", "numpy.cumproduct", "numpy.cumprod", NP125,
    NP + "growth = np.array([1.1, 1.2, 0.9])\npath = np.⟦cumproduct⟧(growth)\n", NP + "growth = np.array([1.1, 1.2, 0.9])\npath = np.⟦cumprod⟧(growth)\n")
add("numpy", "1.25.0", "2.0.0", "numpy.sometrue", "numpy.any", NP125,
    NP + "flags = np.array([False, True])\nif np.⟦sometrue⟧(flags):\n    print('some set')\n", NP + "flags = np.array([False, True])\nif np.⟦any⟧(flags):\n    print('some set')\n")
add("numpy", "1.25.0", "2.0.0", "numpy.alltrue", "numpy.all", NP125,
    NP + "checks = np.array([True, True])\nok = np.⟦alltrue⟧(checks)\n", NP + "checks = np.array([True, True])\nok = np.⟦all⟧(checks)\n")
add("numpy", "1.25.0", "2.0.0", "numpy.round_", "numpy.round", NP125,
    NP + "prices = np.array([1.234, 5.678])\nrounded = np.⟦round_⟧(prices, 2)\n", NP + "prices = np.array([1.234, 5.678])\nrounded = np.⟦round⟧(prices, 2)\n")
add("numpy", "2.0.0", None, "numpy.in1d", "numpy.isin", NP20,
    NP + "ids = np.arange(10)\nselected = np.⟦in1d⟧(ids, [2, 4, 6])\n", NP + "ids = np.arange(10)\nselected = np.⟦isin⟧(ids, [2, 4, 6])\n")
add("numpy", "2.0.0", None, "numpy.trapz", "numpy.trapezoid", NP20,
    NP + "x = np.linspace(0, 1, 50)\narea = np.⟦trapz⟧(x ** 2, x)\n", NP + "x = np.linspace(0, 1, 50)\narea = np.⟦trapezoid⟧(x ** 2, x)\n")
add("numpy", "2.0.0", None, "numpy.row_stack", "numpy.vstack", NP20,
    NP + "a, b = np.ones(3), np.zeros(3)\ngrid = np.⟦row_stack⟧((a, b))\n", NP + "a, b = np.ones(3), np.zeros(3)\ngrid = np.⟦vstack⟧((a, b))\n")
add("numpy", None, "2.0.0", "numpy.NaN", "numpy.nan", NP20,
    NP + "scores = np.full(4, np.⟦NaN⟧)\n", NP + "scores = np.full(4, np.⟦nan⟧)\n", old_version="1.26.0")
add("numpy", None, "2.0.0", "numpy.float_", "numpy.float64", NP20,
    NP + "def to_array(values):\n    return np.asarray(values, dtype=np.⟦float_⟧)\n", NP + "def to_array(values):\n    return np.asarray(values, dtype=np.⟦float64⟧)\n", old_version="1.26.0")
add("numpy", None, "2.0.0", "numpy.string_", "numpy.bytes_", NP20,
    NP + "labels = np.array(['a', 'b'], dtype=np.⟦string_⟧)\n", NP + "labels = np.array(['a', 'b'], dtype=np.⟦bytes_⟧)\n", old_version="1.26.0")
add("numpy", "1.25.0", None, "numpy.find_common_type", "numpy.result_type", "NumPy 1.25.0 release notes (deprecations)",
    NP + "dtypes = [np.int32, np.float32]\ncommon = np.⟦find_common_type⟧(dtypes, [])\n", NP + "dtypes = [np.int32, np.float32]\ncommon = np.⟦result_type⟧(*dtypes)\n")

PD = "import pandas as pd\n\n"
PD20 = "pandas 2.0.0 release notes (removal of prior version deprecations)"
add("pandas", "1.4.0", "2.0.0", "pandas.DataFrame.append", "pandas.concat", "pandas 1.4.0 release notes (deprecated DataFrame.append and Series.append); " + PD20,
    PD + "df = pd.DataFrame({'a': [1]})\nnew_row = pd.DataFrame({'a': [2]})\ndf = df.⟦append⟧(new_row, ignore_index=True)\n",
    PD + "df = pd.DataFrame({'a': [1]})\nnew_row = pd.DataFrame({'a': [2]})\ndf = pd.⟦concat⟧([df, new_row], ignore_index=True)\n")
add("pandas", "1.4.0", "2.0.0", "pandas.Series.append", "pandas.concat", "pandas 1.4.0 release notes (deprecated DataFrame.append and Series.append); " + PD20,
    PD + "s = pd.Series([1, 2])\nmore = pd.Series([3])\ns = s.⟦append⟧(more)\n", PD + "s = pd.Series([1, 2])\nmore = pd.Series([3])\ns = pd.⟦concat⟧([s, more])\n")
add("pandas", "1.5.0", "2.0.0", "pandas.DataFrame.iteritems", "pandas.DataFrame.items", "pandas 1.5.0 release notes (deprecations); " + PD20,
    PD + "def column_sums(df):\n    for name, column in df.⟦iteritems⟧():\n        print(name, column.sum())\n", PD + "def column_sums(df):\n    for name, column in df.⟦items⟧():\n        print(name, column.sum())\n")
add("pandas", "0.20.0", "1.0.0", "pandas.DataFrame.ix", "pandas.DataFrame.loc / iloc", "pandas 0.20.0 release notes (deprecate .ix); pandas 1.0.0 release notes (removed .ix)",
    PD + "df = pd.read_csv('prices.csv')\nfirst = df.⟦ix⟧[0, 'price']\n", PD + "df = pd.read_csv('prices.csv')\nfirst = df.⟦loc⟧[0, 'price']\n")
add("pandas", "0.23.0", "1.0.0", "pandas.DataFrame.as_matrix", "pandas.DataFrame.to_numpy", "pandas 0.23.0 release notes (deprecations); pandas 1.0.0 release notes (removal of prior version deprecations)",
    PD + "df = pd.read_csv('features.csv')\nX = df.⟦as_matrix⟧()\n", PD + "df = pd.read_csv('features.csv')\nX = df.⟦to_numpy⟧()\n")
add("pandas", "0.21.0", "1.0.0", "pandas.DataFrame.get_value", "pandas.DataFrame.at", "pandas 0.21.0 release notes (deprecate get_value/set_value); pandas 1.0.0 release notes (removal of prior version deprecations)",
    PD + "df = pd.DataFrame({'qty': [5, 7]})\nqty = df.⟦get_value⟧(1, 'qty')\n", PD + "df = pd.DataFrame({'qty': [5, 7]})\nqty = df.⟦at⟧[1, 'qty']\n")
add("pandas", "0.21.0", "1.0.0", "pandas.DataFrame.set_value", "pandas.DataFrame.at", "pandas 0.21.0 release notes (deprecate get_value/set_value); pandas 1.0.0 release notes (removal of prior version deprecations)",
    PD + "df = pd.DataFrame({'qty': [5, 7]})\ndf.⟦set_value⟧(1, 'qty', 10)\n", PD + "df = pd.DataFrame({'qty': [5, 7]})\ndf.⟦at⟧[1, 'qty'] = 10\n")
add("pandas", "1.0.0", "2.0.0", "pandas.np", "import numpy", "pandas 1.0.0 release notes (deprecated pandas.np submodule); " + PD20,
    PD + "df = pd.DataFrame({'x': [1, 4, 9]})\ndf['root'] = pd.⟦np⟧.sqrt(df['x'])\n", "import numpy as np\n" + PD + "df = pd.DataFrame({'x': [1, 4, 9]})\ndf['root'] = ⟦np⟧.sqrt(df['x'])\n")
add("pandas", "1.2.0", "2.0.0", "pandas.DataFrame.lookup", "pandas.factorize + NumPy indexing", "pandas 1.2.0 release notes (deprecated DataFrame.lookup); " + PD20,
    PD + "df = pd.DataFrame({'col': ['A', 'B'], 'A': [1, 2], 'B': [3, 4]})\nvalues = df.⟦lookup⟧(df.index, df['col'])\n",
    "import numpy as np\n" + PD + "df = pd.DataFrame({'col': ['A', 'B'], 'A': [1, 2], 'B': [3, 4]})\nidx, cols = pd.⟦factorize⟧(df['col'])\nvalues = df.reindex(cols, axis=1).to_numpy()[np.arange(len(df)), idx]\n")
add("pandas", "2.1.0", None, "pandas.DataFrame.applymap", "pandas.DataFrame.map", "pandas 2.1.0 release notes (DataFrame.applymap renamed to DataFrame.map)",
    PD + "df = pd.DataFrame({'a': [1.5, 2.25]})\nlabels = df.⟦applymap⟧(lambda v: f'{v:.1f}')\n", PD + "df = pd.DataFrame({'a': [1.5, 2.25]})\nlabels = df.⟦map⟧(lambda v: f'{v:.1f}')\n")
add("pandas", "1.5.0", "2.0.0", "pandas.Series.is_monotonic", "pandas.Series.is_monotonic_increasing", "pandas 1.5.0 release notes (deprecations); " + PD20,
    PD + "ts = pd.Series([1, 2, 3])\nif ts.⟦is_monotonic⟧:\n    print('sorted')\n", PD + "ts = pd.Series([1, 2, 3])\nif ts.⟦is_monotonic_increasing⟧:\n    print('sorted')\n")
add("pandas", "1.4.0", "2.0.0", "pandas.Int64Index", "pandas.Index(..., dtype='int64')", "pandas 1.4.0 release notes (deprecated Int64Index, UInt64Index, Float64Index); " + PD20,
    PD + "idx = pd.⟦Int64Index⟧([10, 20, 30])\n", PD + "idx = pd.⟦Index⟧([10, 20, 30], dtype='int64')\n")
add("pandas", "2.1.0", None, "pandas.value_counts", "pandas.Series.value_counts", "pandas 2.1.0 release notes (deprecated top-level value_counts)",
    PD + "values = ['a', 'b', 'a']\ncounts = pd.⟦value_counts⟧(values)\n", PD + "values = ['a', 'b', 'a']\ncounts = pd.Series(values).⟦value_counts⟧()\n")
add("pandas", "2.0.0", None, "pandas.DataFrame.pad", "pandas.DataFrame.ffill", "pandas 2.0.0 release notes (deprecated pad and backfill in favour of ffill and bfill)",
    PD + "df = pd.DataFrame({'temp': [20.0, None, 22.0]})\nfilled = df.⟦pad⟧()\n", PD + "df = pd.DataFrame({'temp': [20.0, None, 22.0]})\nfilled = df.⟦ffill⟧()\n")

SK = "scikit-learn"
SK10 = "scikit-learn 1.0 release notes (deprecations); scikit-learn 1.2 release notes (removals)"
add(SK, "1.0", "1.2", "sklearn.datasets.load_boston", "sklearn.datasets.fetch_california_housing", SK10 + "; load_boston removed for ethical concerns",
    "from sklearn.datasets import ⟦load_boston⟧\n\nX, y = load_boston(return_X_y=True)\n", "from sklearn.datasets import ⟦fetch_california_housing⟧\n\nX, y = fetch_california_housing(return_X_y=True)\n")
add(SK, "0.18", "0.20", "sklearn.cross_validation", "sklearn.model_selection", "scikit-learn 0.18 release notes (model_selection module); scikit-learn 0.20 release notes (removed cross_validation, grid_search)",
    "from sklearn.⟦cross_validation⟧ import train_test_split\n\nX_train, X_test = train_test_split(X, test_size=0.2)\n", "from sklearn.⟦model_selection⟧ import train_test_split\n\nX_train, X_test = train_test_split(X, test_size=0.2)\n")
add(SK, "0.18", "0.20", "sklearn.grid_search", "sklearn.model_selection", "scikit-learn 0.18 release notes (model_selection module); scikit-learn 0.20 release notes (removed cross_validation, grid_search)",
    "from sklearn.⟦grid_search⟧ import GridSearchCV\n\nsearch = GridSearchCV(model, {'C': [0.1, 1.0]})\n", "from sklearn.⟦model_selection⟧ import GridSearchCV\n\nsearch = GridSearchCV(model, {'C': [0.1, 1.0]})\n")
add(SK, "0.21", "0.23", "sklearn.externals.joblib", "joblib", "scikit-learn 0.21 release notes (deprecated sklearn.externals.joblib); scikit-learn 0.23 release notes (removed)",
    "from sklearn.externals import ⟦joblib⟧\n\njoblib.dump(model, 'model.pkl')\n", "import ⟦joblib⟧\n\njoblib.dump(model, 'model.pkl')\n")
add(SK, "1.0", "1.2", "get_feature_names", "get_feature_names_out", SK10,
    "from sklearn.feature_extraction.text import CountVectorizer\n\nvectorizer = CountVectorizer().fit(docs)\nnames = vectorizer.⟦get_feature_names⟧()\n",
    "from sklearn.feature_extraction.text import CountVectorizer\n\nvectorizer = CountVectorizer().fit(docs)\nnames = vectorizer.⟦get_feature_names_out⟧()\n")
add(SK, "1.0", "1.2", "sklearn.metrics.plot_confusion_matrix", "sklearn.metrics.ConfusionMatrixDisplay.from_estimator", SK10,
    "from sklearn import metrics\n\nmetrics.⟦plot_confusion_matrix⟧(clf, X_test, y_test)\n", "from sklearn import metrics\n\nmetrics.ConfusionMatrixDisplay.⟦from_estimator⟧(clf, X_test, y_test)\n")
add(SK, "1.0", "1.2", "sklearn.metrics.plot_roc_curve", "sklearn.metrics.RocCurveDisplay.from_estimator", SK10,
    "from sklearn import metrics\n\nmetrics.⟦plot_roc_curve⟧(clf, X_test, y_test)\n", "from sklearn import metrics\n\nmetrics.RocCurveDisplay.⟦from_estimator⟧(clf, X_test, y_test)\n")
add(SK, "1.2", "1.4", "OneHotEncoder(sparse=...)", "OneHotEncoder(sparse_output=...)", "scikit-learn 1.2 release notes (sparse renamed to sparse_output); scikit-learn 1.4 release notes (removed)",
    "from sklearn.preprocessing import OneHotEncoder\n\nenc = OneHotEncoder(⟦sparse⟧=False)\n", "from sklearn.preprocessing import OneHotEncoder\n\nenc = OneHotEncoder(⟦sparse_output⟧=False)\n")
add(SK, "1.4", "1.6", "mean_squared_error(squared=False)", "sklearn.metrics.root_mean_squared_error", "scikit-learn 1.4 release notes (deprecated squared argument); scikit-learn 1.6 release notes (removed)",
    "from sklearn.metrics import mean_squared_error\n\nrmse = mean_squared_error(y_true, y_pred, ⟦squared⟧=False)\n", "from sklearn.metrics import root_mean_squared_error\n\nrmse = ⟦root_mean_squared_error⟧(y_true, y_pred)\n")
add(SK, "1.2", "1.4", "BaggingClassifier(base_estimator=...)", "BaggingClassifier(estimator=...)", "scikit-learn 1.2 release notes (base_estimator renamed to estimator); scikit-learn 1.4 release notes (removed)",
    "from sklearn.ensemble import BaggingClassifier\nfrom sklearn.tree import DecisionTreeClassifier\n\nbag = BaggingClassifier(⟦base_estimator⟧=DecisionTreeClassifier())\n",
    "from sklearn.ensemble import BaggingClassifier\nfrom sklearn.tree import DecisionTreeClassifier\n\nbag = BaggingClassifier(⟦estimator⟧=DecisionTreeClassifier())\n")

SP112 = "SciPy 1.12.0 release notes (deprecated integration aliases); SciPy 1.14.0 release notes (removed)"
SPMISC = "SciPy 1.0.0 release notes (deprecated scipy.misc functions); SciPy 1.3.0 release notes (removed)"
add("scipy", "1.0.0", "1.2.0", "scipy.misc.imread", "imageio.imread", "SciPy 1.0.0 release notes (deprecated scipy.misc image functions); SciPy 1.2.0 release notes (removed)",
    "from scipy import misc\n\nimg = misc.⟦imread⟧('cat.png')\n", "import imageio\n\nimg = imageio.⟦imread⟧('cat.png')\n")
add("scipy", "1.0.0", "1.3.0", "scipy.misc.comb", "scipy.special.comb", SPMISC,
    "from scipy.misc import ⟦comb⟧\n\npairs = comb(10, 2)\n", "from scipy.special import ⟦comb⟧\n\npairs = comb(10, 2)\n")
add("scipy", "1.0.0", "1.3.0", "scipy.misc.logsumexp", "scipy.special.logsumexp", SPMISC,
    "from scipy.misc import ⟦logsumexp⟧\n\nlog_z = logsumexp(log_probs)\n", "from scipy.special import ⟦logsumexp⟧\n\nlog_z = logsumexp(log_probs)\n")
add("scipy", "1.12.0", "1.14.0", "scipy.integrate.simps", "scipy.integrate.simpson", SP112,
    "from scipy import integrate\n\narea = integrate.⟦simps⟧(y, x=x)\n", "from scipy import integrate\n\narea = integrate.⟦simpson⟧(y, x=x)\n")
add("scipy", "1.12.0", "1.14.0", "scipy.integrate.trapz", "scipy.integrate.trapezoid", SP112,
    "from scipy import integrate\n\narea = integrate.⟦trapz⟧(y, x)\n", "from scipy import integrate\n\narea = integrate.⟦trapezoid⟧(y, x)\n")
add("scipy", "1.12.0", "1.14.0", "scipy.integrate.cumtrapz", "scipy.integrate.cumulative_trapezoid", SP112,
    "from scipy import integrate\n\nposition = integrate.⟦cumtrapz⟧(velocity, t, initial=0)\n", "from scipy import integrate\n\nposition = integrate.⟦cumulative_trapezoid⟧(velocity, t, initial=0)\n")
add("scipy", "1.10.0", "1.14.0", "scipy.interpolate.interp2d", "scipy.interpolate.RegularGridInterpolator", "SciPy 1.10.0 release notes (deprecated interp2d); SciPy 1.14.0 release notes (removed)",
    "from scipy import interpolate\n\nf = interpolate.⟦interp2d⟧(x, y, z, kind='linear')\n", "from scipy import interpolate\n\nf = interpolate.⟦RegularGridInterpolator⟧((x, y), z)\n")

MPL = "import matplotlib\nimport matplotlib.pyplot as plt\n\n"
add("matplotlib", "3.7.0", "3.9.0", "matplotlib.cm.get_cmap", "matplotlib.colormaps[name]", "Matplotlib 3.7.0 API changes (deprecated cm.get_cmap); Matplotlib 3.9.0 API changes (removed)",
    MPL + "from matplotlib import cm\n\ncmap = cm.⟦get_cmap⟧('viridis')\n", MPL + "cmap = matplotlib.⟦colormaps⟧['viridis']\n")
add("matplotlib", "3.6.0", None, "Figure.set_tight_layout", "Figure.set_layout_engine", "Matplotlib 3.6.0 API changes (set_tight_layout discouraged in favour of set_layout_engine)",
    MPL + "fig, ax = plt.subplots()\nfig.⟦set_tight_layout⟧(True)\n", MPL + "fig, ax = plt.subplots()\nfig.⟦set_layout_engine⟧('tight')\n")
add("matplotlib", "2.2.0", "3.1.0", "matplotlib.mlab.normpdf", "scipy.stats.norm.pdf", "Matplotlib 2.2.0 API changes (deprecated mlab functions); Matplotlib 3.1.0 API changes (removed)",
    MPL + "from matplotlib import mlab\n\ny = mlab.⟦normpdf⟧(bins, mu, sigma)\n", MPL + "from scipy.stats import norm\n\ny = norm.⟦pdf⟧(bins, mu, sigma)\n")
add("matplotlib", "2.0.0", "2.2.0", "axisbg keyword", "facecolor keyword", "Matplotlib 2.0.0 API changes (axisbg deprecated for facecolor); Matplotlib 2.2.0 API changes (removed)",
    MPL + "fig = plt.figure()\nax = fig.add_subplot(111, ⟦axisbg⟧='white')\n", MPL + "fig = plt.figure()\nax = fig.add_subplot(111, ⟦facecolor⟧='white')\n")
add("matplotlib", "3.4.0", "3.6.0", "Figure.gca(projection=...)", "Figure.add_subplot(projection=...)", "Matplotlib 3.4.0 API changes (gca() keyword arguments deprecated); Matplotlib 3.6.0 API changes (removed)",
    MPL + "fig = plt.figure()\nax = fig.⟦gca⟧(projection='3d')\n", MPL + "fig = plt.figure()\nax = fig.⟦add_subplot⟧(projection='3d')\n")

TF = "import tensorflow as tf\n\n"
TF2 = "TensorFlow 2.0.0 release notes and migration guide (TF1 symbols removed from the top-level namespace)"
add("tensorflow", None, "2.0.0", "tf.Session", "tf.compat.v1.Session", TF2,
    TF + "sess = tf.⟦Session⟧()\n", TF + "sess = tf.compat.v1.⟦Session⟧()\n", old_version="1.15.0")
add("tensorflow", None, "2.0.0", "tf.placeholder", "tf.keras.Input", TF2,
    TF + "images = tf.⟦placeholder⟧(tf.float32, shape=[None, 784])\n", TF + "images = tf.keras.⟦Input⟧(shape=(784,))\n", old_version="1.15.0")
add("tensorflow", None, "2.0.0", "tf.random_normal", "tf.random.normal", TF2,
    TF + "w = tf.⟦random_normal⟧([784, 10], stddev=0.01)\n", TF + "w = tf.random.⟦normal⟧([784, 10], stddev=0.01)\n", old_version="1.15.0")
add("tensorflow", None, "2.0.0", "tf.log", "tf.math.log", TF2,
    TF + "loss = -tf.reduce_sum(labels * tf.⟦log⟧(probs))\n", TF + "loss = -tf.reduce_sum(labels * tf.math.⟦log⟧(probs))\n", old_version="1.15.0")
add("tensorflow", None, "2.0.0", "tf.to_float", "tf.cast", TF2,
    TF + "mask = tf.⟦to_float⟧(labels > 0)\n", TF + "mask = tf.⟦cast⟧(labels > 0, tf.float32)\n", old_version="1.15.0")
add("tensorflow", None, "2.0.0", "tf.contrib.layers.xavier_initializer", "tf.keras.initializers.GlorotUniform", TF2 + " (tf.contrib removed)",
    TF + "init = tf.contrib.layers.⟦xavier_initializer⟧()\n", TF + "init = tf.keras.initializers.⟦GlorotUniform⟧()\n", old_version="1.15.0")
add("tensorflow", "2.1.0", None, "Model.fit_generator", "Model.fit", "TensorFlow 2.1.0 release notes (Model.fit_generator, evaluate_generator, predict_generator deprecated)",
    TF + "model.⟦fit_generator⟧(train_gen, epochs=5)\n", TF + "model.⟦fit⟧(train_gen, epochs=5)\n")
add("tensorflow", "2.1.0", None, "Model.predict_generator", "Model.predict", "TensorFlow 2.1.0 release notes (Model.fit_generator, evaluate_generator, predict_generator deprecated)",
    TF + "preds = model.⟦predict_generator⟧(test_gen)\n", TF + "preds = model.⟦predict⟧(test_gen)\n")

TO = "import torch\n\n"
add("torch", "0.4.0", None, "torch.autograd.Variable", "torch.Tensor with requires_grad", "PyTorch 0.4.0 release notes (Tensor and Variable merged)",
    TO + "from torch.autograd import Variable\n\nx = ⟦Variable⟧(torch.randn(3), requires_grad=True)\n", TO + "x = torch.⟦randn⟧(3, requires_grad=True)\n")
add("torch", "0.4.0", None, "torch.nn.utils.clip_grad_norm", "torch.nn.utils.clip_grad_norm_", "PyTorch 0.4.0 release notes (in-place functions renamed with a trailing underscore)",
    TO + "loss.backward()\ntorch.nn.utils.⟦clip_grad_norm⟧(model.parameters(), 1.0)\n", TO + "loss.backward()\ntorch.nn.utils.⟦clip_grad_norm_⟧(model.parameters(), 1.0)\n")
add("torch", "0.4.0", None, "torch.nn.init.xavier_uniform", "torch.nn.init.xavier_uniform_", "PyTorch 0.4.0 release notes (in-place init functions renamed with a trailing underscore)",
    TO + "layer = torch.nn.Linear(128, 64)\ntorch.nn.init.⟦xavier_uniform⟧(layer.weight)\n", TO + "layer = torch.nn.Linear(128, 64)\ntorch.nn.init.⟦xavier_uniform_⟧(layer.weight)\n")
add("torch", "0.4.1", None, "torch.nn.functional.upsample", "torch.nn.functional.interpolate", "PyTorch 0.4.1 release notes (upsample deprecated in favour of interpolate)",
    TO + "import torch.nn.functional as F\n\nbig = F.⟦upsample⟧(img, scale_factor=2, mode='bilinear')\n", TO + "import torch.nn.functional as F\n\nbig = F.⟦interpolate⟧(img, scale_factor=2, mode='bilinear')\n")
add("torch", "2.4.0", None, "torch.cuda.amp.autocast", "torch.amp.autocast('cuda')", "PyTorch 2.4.0 release notes (torch.cuda.amp.autocast deprecated for torch.amp.autocast)",
    TO + "with torch.cuda.amp.⟦autocast⟧():\n    out = model(batch)\n", TO + "with torch.amp.⟦autocast⟧('cuda'):\n    out = model(batch)\n")
add("torch", "1.12.0", None, "torch.testing.assert_allclose", "torch.testing.assert_close", "PyTorch 1.12.0 release notes (assert_allclose deprecated for assert_close)",
    TO + "torch.testing.⟦assert_allclose⟧(actual, expected)\n", TO + "torch.testing.⟦assert_close⟧(actual, expected)\n")
add("torch", "1.9.0", None, "torch.symeig", "torch.linalg.eigh", "PyTorch 1.9.0 release notes (torch.linalg; symeig deprecated in favour of torch.linalg.eigh)",
    TO + "cov = x.T @ x\nevals, evecs = torch.⟦symeig⟧(cov, eigenvectors=True)\n", TO + "cov = x.T @ x\nevals, evecs = torch.linalg.⟦eigh⟧(cov)\n")
add("torch", "1.9.0", None, "torch.solve", "torch.linalg.solve", "PyTorch 1.9.0 release notes (torch.linalg; solve deprecated in favour of torch.linalg.solve)",
    TO + "solution, lu = torch.⟦solve⟧(b, A)\n", TO + "solution = torch.linalg.⟦solve⟧(A, b)\n")
add("torch", "2.1.0", None, "torch.nn.utils.weight_norm", "torch.nn.utils.parametrizations.weight_norm", "PyTorch 2.1.0 release notes (weight_norm deprecated for the parametrizations version)",
    TO + "conv = torch.nn.utils.⟦weight_norm⟧(torch.nn.Conv1d(16, 16, 3))\n", TO + "conv = torch.nn.utils.parametrizations.⟦weight_norm⟧(torch.nn.Conv1d(16, 16, 3))\n")

TV = "from torchvision import models, transforms\n\n"
add("torchvision", "0.2.0", None, "transforms.Scale", "transforms.Resize", "torchvision 0.2.0 release notes (Scale renamed to Resize)",
    TV + "pipeline = transforms.Compose([transforms.⟦Scale⟧(256), transforms.ToTensor()])\n", TV + "pipeline = transforms.Compose([transforms.⟦Resize⟧(256), transforms.ToTensor()])\n")
add("torchvision", "0.2.0", None, "transforms.RandomSizedCrop", "transforms.RandomResizedCrop", "torchvision 0.2.0 release notes (RandomSizedCrop renamed to RandomResizedCrop)",
    TV + "augment = transforms.⟦RandomSizedCrop⟧(224)\n", TV + "augment = transforms.⟦RandomResizedCrop⟧(224)\n")
add("torchvision", "0.13.0", None, "models.resnet50(pretrained=True)", "models.resnet50(weights=...)", "torchvision 0.13.0 release notes (multi-weight support API; pretrained deprecated)",
    TV + "model = models.resnet50(⟦pretrained⟧=True)\n", TV + "model = models.resnet50(⟦weights⟧='IMAGENET1K_V1')\n")

SA = "sqlalchemy"
add(SA, "1.4.0", "2.0.0", "Engine.execute", "Connection.execute", "SQLAlchemy 1.4 / 2.0 migration guide (engine-level execute removed)",
    "from sqlalchemy import create_engine\n\nengine = create_engine('sqlite://')\nrows = engine.⟦execute⟧('SELECT 1').fetchall()\n",
    "from sqlalchemy import create_engine, text\n\nengine = create_engine('sqlite://')\nwith engine.⟦connect⟧() as conn:\n    rows = conn.execute(text('SELECT 1')).fetchall()\n")
add(SA, "1.4.0", "2.0.0", "sqlalchemy.ext.declarative.declarative_base", "sqlalchemy.orm.declarative_base", "SQLAlchemy 1.4 changelog (declarative_base moved to sqlalchemy.orm); 2.0 migration guide",
    "from sqlalchemy.ext.⟦declarative⟧ import declarative_base\n\nBase = declarative_base()\n", "from sqlalchemy.⟦orm⟧ import declarative_base\n\nBase = declarative_base()\n")
add(SA, "2.0.0", None, "Query.get", "Session.get", "SQLAlchemy 2.0 migration guide (Query.get() legacy, use Session.get())",
    "def find_user(session, user_id):\n    return session.query(User).⟦get⟧(user_id)\n", "def find_user(session, user_id):\n    return session.⟦get⟧(User, user_id)\n")

FL = "from flask import Flask\n\napp = Flask(__name__)\n\n"
add("flask", "2.2.0", "2.3.0", "Flask.before_first_request", "app.app_context() at startup", "Flask 2.2.0 changelog (before_first_request deprecated); Flask 2.3.0 changelog (removed)",
    FL + "@app.⟦before_first_request⟧\ndef init_db():\n    create_tables()\n", FL + "with app.⟦app_context⟧():\n    create_tables()\n")
add("flask", "2.3.0", "3.0.0", "flask.escape", "markupsafe.escape", "Flask 2.3.0 changelog (deprecated escape and Markup re-exports); Flask 3.0.0 changelog (removed)",
    "from flask import ⟦escape⟧\n\nsafe = escape(user_input)\n", "from markupsafe import ⟦escape⟧\n\nsafe = escape(user_input)\n")
add("flask", "2.3.0", "3.0.0", "flask.Markup", "markupsafe.Markup", "Flask 2.3.0 changelog (deprecated escape and Markup re-exports); Flask 3.0.0 changelog (removed)",
    "from flask import ⟦Markup⟧\n\nbanner = Markup('<b>Welcome</b>')\n", "from markupsafe import ⟦Markup⟧\n\nbanner = Markup('<b>Welcome</b>')\n")
add("flask", "2.0.0", "2.2.0", "send_file(attachment_filename=...)", "send_file(download_name=...)", "Flask 2.0.0 changelog (attachment_filename renamed to download_name); Flask 2.2.0 changelog (removed)",
    "from flask import send_file\n\ndef download():\n    return send_file('report.pdf', as_attachment=True, ⟦attachment_filename⟧='report.pdf')\n",
    "from flask import send_file\n\ndef download():\n    return send_file('report.pdf', as_attachment=True, ⟦download_name⟧='report.pdf')\n")
add("flask", "2.2.0", "2.3.0", "flask.json.JSONEncoder", "flask.json.provider.DefaultJSONProvider", "Flask 2.2.0 changelog (JSON provider interface; JSONEncoder deprecated); Flask 2.3.0 changelog (removed)",
    "import flask\n\nclass Encoder(flask.json.⟦JSONEncoder⟧):\n    pass\n", "import flask\n\nclass Provider(flask.json.provider.⟦DefaultJSONProvider⟧):\n    pass\n")

add("werkzeug", "2.3.0", "3.0.0", "werkzeug.urls.url_quote", "urllib.parse.quote", "Werkzeug 2.3.0 changelog (werkzeug.urls functions deprecated); Werkzeug 3.0.0 changelog (removed)",
    "from werkzeug.urls import ⟦url_quote⟧\n\npath = url_quote(name)\n", "from urllib.parse import ⟦quote⟧\n\npath = quote(name)\n")
add("werkzeug", "2.3.0", "3.0.0", "werkzeug.urls.url_parse", "urllib.parse.urlsplit", "Werkzeug 2.3.0 changelog (werkzeug.urls functions deprecated); Werkzeug 3.0.0 changelog (removed)",
    "from werkzeug.urls import ⟦url_parse⟧\n\nparts = url_parse(next_url)\n", "from urllib.parse import ⟦urlsplit⟧\n\nparts = urlsplit(next_url)\n")
add("werkzeug", "2.0.0", "2.1.0", "werkzeug.security.safe_str_cmp", "hmac.compare_digest", "Werkzeug 2.0.0 changelog (safe_str_cmp deprecated); Werkzeug 2.1.0 changelog (removed)",
    "from werkzeug.security import ⟦safe_str_cmp⟧\n\nvalid = safe_str_cmp(token, expected)\n", "from hmac import ⟦compare_digest⟧\n\nvalid = compare_digest(token, expected)\n")
add("werkzeug", "0.15.0", "1.0.0", "werkzeug.contrib.cache", "cachelib", "Werkzeug 0.15.0 changelog (werkzeug.contrib deprecated); Werkzeug 1.0.0 changelog (removed, moved to cachelib)",
    "from werkzeug.⟦contrib⟧.cache import SimpleCache\n\ncache = SimpleCache()\n", "from ⟦cachelib⟧ import SimpleCache\n\ncache = SimpleCache()\n")

J3 = "Jinja 3.0.0 changelog (decorators renamed to pass_*; Markup and escape re-exports deprecated); Jinja 3.1.0 changelog (removed)"
add("jinja2", "3.0.0", "3.1.0", "jinja2.contextfunction", "jinja2.pass_context", J3,
    "import jinja2\n\n@jinja2.⟦contextfunction⟧\ndef current_user(context):\n    return context.get('user')\n", "import jinja2\n\n@jinja2.⟦pass_context⟧\ndef current_user(context):\n    return context.get('user')\n")
add("jinja2", "3.0.0", "3.1.0", "jinja2.environmentfilter", "jinja2.pass_environment", J3,
    "import jinja2\n\n@jinja2.⟦environmentfilter⟧\ndef shout(env, value):\n    return value.upper()\n", "import jinja2\n\n@jinja2.⟦pass_environment⟧\ndef shout(env, value):\n    return value.upper()\n")
add("jinja2", "3.0.0", "3.1.0", "jinja2.Markup", "markupsafe.Markup", J3,
    "from jinja2 import ⟦Markup⟧\n\nhtml = Markup('<em>hi</em>')\n", "from markupsafe import ⟦Markup⟧\n\nhtml = Markup('<em>hi</em>')\n")

add("markupsafe", "2.0.0", "2.1.0", "markupsafe.soft_unicode", "markupsafe.soft_str", "MarkupSafe 2.0.0 changelog (soft_unicode renamed to soft_str); MarkupSafe 2.1.0 changelog (removed)",
    "from markupsafe import ⟦soft_unicode⟧\n\ntext = soft_unicode(value)\n", "from markupsafe import ⟦soft_str⟧\n\ntext = soft_str(value)\n")

DJ30 = "Django 3.0 release notes (features deprecated in 3.0); Django 4.0 release notes (features removed in 4.0)"
DJ31 = "Django 3.1 release notes (features deprecated in 3.1); Django 4.0 release notes (features removed in 4.0)"
add("django", "3.1", "4.0", "django.conf.urls.url", "django.urls.re_path", DJ31,
    "from django.conf.urls import ⟦url⟧\n\nurlpatterns = [url(r'^home/$', views.home)]\n", "from django.urls import ⟦re_path⟧\n\nurlpatterns = [re_path(r'^home/$', views.home)]\n")
add("django", "3.0", "4.0", "django.utils.translation.ugettext", "django.utils.translation.gettext", DJ30,
    "from django.utils.translation import ⟦ugettext⟧ as _\n\nmessage = _('Welcome')\n", "from django.utils.translation import ⟦gettext⟧ as _\n\nmessage = _('Welcome')\n")
add("django", "3.0", "4.0", "django.utils.translation.ugettext_lazy", "django.utils.translation.gettext_lazy", DJ30,
    "from django.utils.translation import ⟦ugettext_lazy⟧ as _\n\nlabel = _('Name')\n", "from django.utils.translation import ⟦gettext_lazy⟧ as _\n\nlabel = _('Name')\n")
add("django", "3.0", "4.0", "django.utils.encoding.force_text", "django.utils.encoding.force_str", DJ30,
    "from django.utils.encoding import ⟦force_text⟧\n\nname = force_text(raw_name)\n", "from django.utils.encoding import ⟦force_str⟧\n\nname = force_str(raw_name)\n")
add("django", "3.1", "4.0", "HttpRequest.is_ajax", "request.headers['x-requested-with']", DJ31,
    "def view(request):\n    if request.⟦is_ajax⟧():\n        return JsonResponse({'ok': True})\n",
    "def view(request):\n    if request.⟦headers⟧.get('x-requested-with') == 'XMLHttpRequest':\n        return JsonResponse({'ok': True})\n")
add("django", "3.1", "4.0", "django.contrib.postgres.fields.JSONField", "django.db.models.JSONField", DJ31,
    "from django.contrib.postgres.fields import ⟦JSONField⟧\n\nclass Event(models.Model):\n    payload = JSONField(default=dict)\n",
    "from django.db import models\n\nclass Event(models.Model):\n    payload = models.⟦JSONField⟧(default=dict)\n")
add("django", "3.1", "4.0", "models.NullBooleanField", "models.BooleanField(null=True)", DJ31,
    "from django.db import models\n\nclass Survey(models.Model):\n    agreed = models.⟦NullBooleanField⟧()\n", "from django.db import models\n\nclass Survey(models.Model):\n    agreed = models.⟦BooleanField⟧(null=True)\n")
add("django", "4.1", "5.0", "django.utils.timezone.utc", "datetime.timezone.utc", "Django 4.1 release notes (timezone.utc alias deprecated); Django 5.0 release notes (removed)",
    "from datetime import datetime\nfrom django.utils import timezone\n\nstamp = datetime.now(tz=timezone.⟦utc⟧)\n", "from datetime import datetime, timezone\n\nstamp = datetime.now(tz=timezone.⟦utc⟧)\n")
add("django", "3.0", "4.0", "django.utils.http.urlquote", "urllib.parse.quote", DJ30,
    "from django.utils.http import ⟦urlquote⟧\n\nslug = urlquote(title)\n", "from urllib.parse import ⟦quote⟧\n\nslug = quote(title)\n")

add("pytest", "6.2.0", None, "pytest.yield_fixture", "pytest.fixture", "pytest 6.2.0 changelog (yield_fixture deprecated, fixture supports yield)",
    "import pytest\n\n@pytest.⟦yield_fixture⟧\ndef db():\n    conn = connect()\n    yield conn\n    conn.close()\n", "import pytest\n\n@pytest.⟦fixture⟧\ndef db():\n    conn = connect()\n    yield conn\n    conn.close()\n")
add("pytest", "3.0.0", "4.0.0", "request.getfuncargvalue", "request.getfixturevalue", "pytest 3.0.0 changelog (getfuncargvalue renamed to getfixturevalue); pytest 4.0.0 changelog (removed)",
    "def test_backend(request):\n    backend = request.⟦getfuncargvalue⟧('backend')\n", "def test_backend(request):\n    backend = request.⟦getfixturevalue⟧('backend')\n")

PY2 = "Pydantic 2.0 migration guide (BaseModel methods renamed; V1 names deprecated)"
PM = "from pydantic import BaseModel\n\nclass User(BaseModel):\n    name: str\n    age: int\n\n"
add("pydantic", "2.0.0", None, "BaseModel.dict", "BaseModel.model_dump", PY2, PM + "data = user.⟦dict⟧()\n", PM + "data = user.⟦model_dump⟧()\n", old_version="1.10.0")
add("pydantic", "2.0.0", None, "BaseModel.json", "BaseModel.model_dump_json", PY2, PM + "payload = user.⟦json⟧()\n", PM + "payload = user.⟦model_dump_json⟧()\n", old_version="1.10.0")
add("pydantic", "2.0.0", None, "BaseModel.parse_obj", "BaseModel.model_validate", PY2, PM + "user = User.⟦parse_obj⟧(raw)\n", PM + "user = User.⟦model_validate⟧(raw)\n", old_version="1.10.0")
add("pydantic", "2.0.0", None, "BaseModel.parse_raw", "BaseModel.model_validate_json", PY2, PM + "user = User.⟦parse_raw⟧(body)\n", PM + "user = User.⟦model_validate_json⟧(body)\n", old_version="1.10.0")
add("pydantic", "2.0.0", None, "BaseModel.copy", "BaseModel.model_copy", PY2, PM + "older = user.⟦copy⟧(update={'age': 40})\n", PM + "older = user.⟦model_copy⟧(update={'age': 40})\n", old_version="1.10.0")
add("pydantic", "2.0.0", None, "BaseModel.schema", "BaseModel.model_json_schema", PY2, PM + "schema = User.⟦schema⟧()\n", PM + "schema = User.⟦model_json_schema⟧()\n", old_version="1.10.0")
add("pydantic", "2.0.0", None, "pydantic.validator", "pydantic.field_validator", PY2,
    "import pydantic\n\nclass Item(pydantic.BaseModel):\n    price: float\n\n    @pydantic.⟦validator⟧('price')\n    def positive(cls, v):\n        return abs(v)\n",
    "import pydantic\n\nclass Item(pydantic.BaseModel):\n    price: float\n\n    @pydantic.⟦field_validator⟧('price')\n    def positive(cls, v):\n        return abs(v)\n", old_version="1.10.0")

NX = "import networkx as nx\n\n"
add("networkx", "2.1", "2.4", "networkx.connected_component_subgraphs", "G.subgraph(c) for c in connected_components(G)", "NetworkX 2.1 release notes (deprecations); NetworkX 2.4 release notes (removed)",
    NX + "parts = list(nx.⟦connected_component_subgraphs⟧(G))\n", NX + "parts = [G.subgraph(c) for c in nx.⟦connected_components⟧(G)]\n")
add("networkx", None, "2.4", "Graph.node", "Graph.nodes", "NetworkX 2.4 release notes (removed G.node, use G.nodes)",
    NX + "color = G.⟦node⟧[n]['color']\n", NX + "color = G.⟦nodes⟧[n]['color']\n", old_version="2.3")
add("networkx", None, "3.0", "networkx.to_numpy_matrix", "networkx.to_numpy_array", "NetworkX 3.0 release notes (removed numpy.matrix functions)",
    NX + "adj = nx.⟦to_numpy_matrix⟧(G)\n", NX + "adj = nx.⟦to_numpy_array⟧(G)\n", old_version="2.8")
add("networkx", None, "3.0", "networkx.from_numpy_matrix", "networkx.from_numpy_array", "NetworkX 3.0 release notes (removed numpy.matrix functions)",
    NX + "G = nx.⟦from_numpy_matrix⟧(adj)\n", NX + "G = nx.⟦from_numpy_array⟧(adj)\n", old_version="2.8")
add("networkx", "2.7", "3.0", "networkx.info", "str(G) / G.number_of_nodes()", "NetworkX 2.7 release notes (deprecated info); NetworkX 3.0 release notes (removed)",
    NX + "print(nx.⟦info⟧(G))\n", NX + "print(G.⟦number_of_nodes⟧(), G.number_of_edges())\n")

PIL = "from PIL import Image, ImageDraw, ImageFont\n\n"
PIL10 = "Pillow 9.1.0 release notes (deprecated constants); Pillow 10.0.0 release notes (removed)"
add("pillow", "9.1.0", "10.0.0", "Image.ANTIALIAS", "Image.LANCZOS", PIL10,
    PIL + "thumb = img.resize((64, 64), Image.⟦ANTIALIAS⟧)\n", PIL + "thumb = img.resize((64, 64), Image.⟦LANCZOS⟧)\n")
add("pillow", "9.1.0", "10.0.0", "Image.LINEAR", "Image.BILINEAR", PIL10,
    PIL + "small = img.resize((32, 32), Image.⟦LINEAR⟧)\n", PIL + "small = img.resize((32, 32), Image.⟦BILINEAR⟧)\n")
add("pillow", "9.2.0", "10.0.0", "ImageDraw.textsize", "ImageDraw.textbbox", "Pillow 9.2.0 release notes (deprecated font size methods); Pillow 10.0.0 release notes (removed)",
    PIL + "draw = ImageDraw.Draw(img)\nwidth, height = draw.⟦textsize⟧('Hello', font=font)\n", PIL + "draw = ImageDraw.Draw(img)\nleft, top, right, bottom = draw.⟦textbbox⟧((0, 0), 'Hello', font=font)\n")
add("pillow", "9.2.0", "10.0.0", "FreeTypeFont.getsize", "FreeTypeFont.getbbox", "Pillow 9.2.0 release notes (deprecated font size methods); Pillow 10.0.0 release notes (removed)",
    PIL + "font = ImageFont.truetype('DejaVuSans.ttf', 12)\nwidth, height = font.⟦getsize⟧('Hello')\n", PIL + "font = ImageFont.truetype('DejaVuSans.ttf', 12)\nleft, top, right, bottom = font.⟦getbbox⟧('Hello')\n")

SNS = "import seaborn as sns\n\n"
add("seaborn", "0.11.0", None, "seaborn.distplot", "seaborn.histplot / displot", "seaborn 0.11.0 release notes (distplot deprecated)",
    SNS + "sns.⟦distplot⟧(df['age'])\n", SNS + "sns.⟦histplot⟧(df['age'], kde=True)\n")
add("seaborn", "0.9.0", None, "seaborn.factorplot", "seaborn.catplot", "seaborn 0.9.0 release notes (factorplot renamed to catplot)",
    SNS + "sns.⟦factorplot⟧(x='day', y='total_bill', data=tips)\n", SNS + "sns.⟦catplot⟧(x='day', y='total_bill', data=tips)\n")
add("seaborn", "0.9.0", None, "seaborn.lvplot", "seaborn.boxenplot", "seaborn 0.9.0 release notes (lvplot renamed to boxenplot)",
    SNS + "sns.⟦lvplot⟧(x='day', y='total_bill', data=tips)\n", SNS + "sns.⟦boxenplot⟧(x='day', y='total_bill', data=tips)\n")

SM = "statsmodels 0.12.0 release notes (deprecated statsmodels.tsa.arima_model); statsmodels 0.13.0 release notes (removed)"
add("statsmodels", "0.12.0", "0.13.0", "statsmodels.tsa.arima_model.ARIMA", "statsmodels.tsa.arima.model.ARIMA", SM,
    "from statsmodels.tsa.⟦arima_model⟧ import ARIMA\n\nfit = ARIMA(series, order=(1, 1, 1)).fit()\n", "from statsmodels.tsa.arima.⟦model⟧ import ARIMA\n\nfit = ARIMA(series, order=(1, 1, 1)).fit()\n")
add("statsmodels", "0.12.0", "0.13.0", "statsmodels.tsa.arima_model.ARMA", "statsmodels.tsa.arima.model.ARIMA", SM,
    "from statsmodels.tsa.arima_model import ⟦ARMA⟧\n\nfit = ARMA(series, order=(2, 0)).fit()\n", "from statsmodels.tsa.arima.model import ⟦ARIMA⟧\n\nfit = ARIMA(series, order=(2, 0, 0)).fit()\n")

GS = "Gensim 4.0.0 migration guide (Migrating from Gensim 3.x to 4)"
GW = "from gensim.models import Word2Vec\n\n"
add("gensim", None, "4.0.0", "Word2Vec(size=...)", "Word2Vec(vector_size=...)", GS,
    GW + "model = Word2Vec(sentences, ⟦size⟧=100, window=5)\n", GW + "model = Word2Vec(sentences, ⟦vector_size⟧=100, window=5)\n", old_version="3.8.3")
add("gensim", None, "4.0.0", "Word2Vec(iter=...)", "Word2Vec(epochs=...)", GS,
    GW + "model = Word2Vec(sentences, ⟦iter⟧=10)\n", GW + "model = Word2Vec(sentences, ⟦epochs⟧=10)\n", old_version="3.8.3")
add("gensim", None, "4.0.0", "KeyedVectors.vocab", "KeyedVectors.key_to_index", GS,
    GW + "words = list(model.wv.⟦vocab⟧)\n", GW + "words = list(model.wv.⟦key_to_index⟧)\n", old_version="3.8.3")
add("gensim", None, "4.0.0", "Word2Vec.most_similar", "Word2Vec.wv.most_similar", GS,
    GW + "similar = model.⟦most_similar⟧('king')\n", GW + "similar = model.wv.⟦most_similar⟧('king')\n", old_version="3.8.3")

LGB = "import lightgbm as lgb\n\n"
LG = "LightGBM 3.3.0 release notes (early_stopping_rounds and verbose_eval arguments deprecated for callbacks); LightGBM 4.0.0 release notes (removed)"
add("lightgbm", "3.3.0", "4.0.0", "lgb.train(early_stopping_rounds=...)", "lgb.early_stopping callback", LG,
    LGB + "booster = lgb.train(params, train_set, valid_sets=[valid], ⟦early_stopping_rounds⟧=20)\n", LGB + "booster = lgb.train(params, train_set, valid_sets=[valid], callbacks=[lgb.⟦early_stopping⟧(20)])\n")
add("lightgbm", "3.3.0", "4.0.0", "lgb.train(verbose_eval=...)", "lgb.log_evaluation callback", LG,
    LGB + "booster = lgb.train(params, train_set, valid_sets=[valid], ⟦verbose_eval⟧=50)\n", LGB + "booster = lgb.train(params, train_set, valid_sets=[valid], callbacks=[lgb.⟦log_evaluation⟧(50)])\n")

add("click", "8.0.0", "8.1.0", "click.get_terminal_size", "shutil.get_terminal_size", "Click 8.0.0 changelog (get_terminal_size deprecated); Click 8.1.0 changelog (removed)",
    "import click\n\nwidth, _ = click.⟦get_terminal_size⟧()\n", "import shutil\n\nwidth, _ = shutil.⟦get_terminal_size⟧()\n")

PMG = "PyMongo 3.0 changelog (CRUD API; legacy methods deprecated); PyMongo 4.0 migration guide (removed)"
MG = "from pymongo import MongoClient\n\nusers = MongoClient().app.users\n"
add("pymongo", "3.0", "4.0", "Collection.insert", "Collection.insert_one", PMG, MG + "users.⟦insert⟧({'name': 'ada'})\n", MG + "users.⟦insert_one⟧({'name': 'ada'})\n")
add("pymongo", "3.0", "4.0", "Collection.update", "Collection.update_one", PMG, MG + "users.⟦update⟧({'name': 'ada'}, {'$set': {'admin': True}})\n", MG + "users.⟦update_one⟧({'name': 'ada'}, {'$set': {'admin': True}})\n")
add("pymongo", "3.0", "4.0", "Collection.remove", "Collection.delete_many", PMG, MG + "users.⟦remove⟧({'active': False})\n", MG + "users.⟦delete_many⟧({'active': False})\n")
add("pymongo", "3.7.0", "4.0", "Collection.count", "Collection.count_documents", "PyMongo 3.7.0 changelog (count deprecated for count_documents); PyMongo 4.0 migration guide (removed)",
    MG + "active = users.⟦count⟧({'active': True})\n", MG + "active = users.⟦count_documents⟧({'active': True})\n")
add("pymongo", "3.0", "4.0", "Collection.find_and_modify", "Collection.find_one_and_update", PMG,
    MG + "doc = users.⟦find_and_modify⟧({'name': 'ada'}, {'$inc': {'logins': 1}})\n", MG + "doc = users.⟦find_one_and_update⟧({'name': 'ada'}, {'$inc': {'logins': 1}})\n")
add("pymongo", "3.0", "4.0", "Collection.ensure_index", "Collection.create_index", PMG, MG + "users.⟦ensure_index⟧('email')\n", MG + "users.⟦create_index⟧('email')\n")

add("docker", None, "2.0.0", "docker.Client", "docker.APIClient / docker.from_env", "docker-py 2.0.0 changelog (Client renamed to APIClient; package renamed from docker-py to docker)",
    "import docker\n\nclient = docker.⟦Client⟧(base_url='unix://var/run/docker.sock')\n", "import docker\n\nclient = docker.⟦APIClient⟧(base_url='unix://var/run/docker.sock')\n", old_version="1.10.6")
add("plotly", None, "4.0.0", "plotly.plotly", "chart_studio.plotly", "plotly.py 4.0.0 changelog (plotly.plotly moved to the chart_studio package)",
    "import plotly.⟦plotly⟧ as py\n\npy.plot(fig, filename='sales')\n", "import chart_studio.⟦plotly⟧ as py\n\npy.plot(fig, filename='sales')\n", old_version="3.10.0")
add("bokeh", "2.4.0", "3.0.0", "figure(plot_width=...)", "figure(width=...)", "Bokeh 2.4.0 release notes (plot_width/plot_height deprecated); Bokeh 3.0.0 migration guide (removed)",
    "from bokeh.plotting import figure\n\np = figure(⟦plot_width⟧=400, plot_height=300)\n", "from bokeh.plotting import figure\n\np = figure(⟦width⟧=400, height=300)\n")

MA = "from marshmallow import Schema, fields\n\n"
MAR = "marshmallow 3.13.0 changelog (missing/default renamed to load_default/dump_default)"
add("marshmallow", "3.13.0", None, "fields.Field(missing=...)", "fields.Field(load_default=...)", MAR,
    MA + "class UserSchema(Schema):\n    role = fields.Str(⟦missing⟧='member')\n", MA + "class UserSchema(Schema):\n    role = fields.Str(⟦load_default⟧='member')\n")
add("marshmallow", "3.13.0", None, "fields.Field(default=...)", "fields.Field(dump_default=...)", MAR,
    MA + "class UserSchema(Schema):\n    role = fields.Str(⟦default⟧='member')\n", MA + "class UserSchema(Schema):\n    role = fields.Str(⟦dump_default⟧='member')\n")

add("jsonschema", "4.18.0", None, "jsonschema.RefResolver", "referencing.Registry", "jsonschema 4.18.0 changelog (RefResolver deprecated in favour of the referencing library)",
    "import jsonschema\n\nresolver = jsonschema.⟦RefResolver⟧.from_schema(schema)\n", "from referencing import Registry, Resource\n\nregistry = ⟦Registry⟧().with_resource(uri, Resource.from_contents(schema))\n")
add("packaging", "20.5", "22.0", "packaging.version.LegacyVersion", "packaging.version.Version", "packaging 20.5 changelog (LegacyVersion deprecated); packaging 22.0 changelog (removed)",
    "from packaging import version\n\nv = version.⟦LegacyVersion⟧('1.0-custom')\n", "from packaging import version\n\nv = version.⟦Version⟧('1.0')\n")

ST = "setuptools 67.5.0 changelog (pkg_resources deprecated as an API)"
add("setuptools", "67.5.0", None, "pkg_resources.get_distribution", "importlib.metadata.version", ST,
    "import pkg_resources\n\nrequests_version = pkg_resources.⟦get_distribution⟧('requests').version\n", "import importlib.metadata\n\nrequests_version = importlib.metadata.⟦version⟧('requests')\n")
add("setuptools", "67.5.0", None, "pkg_resources.parse_version", "packaging.version.parse", ST,
    "import pkg_resources\n\nnewer = pkg_resources.⟦parse_version⟧(a) > pkg_resources.parse_version(b)\n", "from packaging import version\n\nnewer = version.⟦parse⟧(a) > version.parse(b)\n")
add("setuptools", "67.5.0", None, "pkg_resources.resource_filename", "importlib.resources.files", ST,
    "import pkg_resources\n\npath = pkg_resources.⟦resource_filename⟧('mypkg', 'data/config.json')\n", "import importlib.resources\n\npath = importlib.resources.⟦files⟧('mypkg') / 'data/config.json'\n")

add("attrs", "17.4.0", "19.2.0", "attr.ib(convert=...)", "attr.ib(converter=...)", "attrs 17.4.0 changelog (convert deprecated for converter); attrs 19.2.0 changelog (removed)",
    "import attr\n\n@attr.s\nclass Point:\n    x = attr.ib(⟦convert⟧=int)\n", "import attr\n\n@attr.s\nclass Point:\n    x = attr.ib(⟦converter⟧=int)\n")
U3 = "urllib3 1.26.0 changelog (method_whitelist deprecated for allowed_methods); urllib3 2.0.0 changelog (removed)"
add("urllib3", "1.26.0", "2.0.0", "Retry(method_whitelist=...)", "Retry(allowed_methods=...)", U3,
    "from urllib3.util.retry import Retry\n\nretry = Retry(total=3, ⟦method_whitelist⟧=['GET'])\n", "from urllib3.util.retry import Retry\n\nretry = Retry(total=3, ⟦allowed_methods⟧=['GET'])\n")
add("urllib3", "1.26.0", "2.0.0", "Retry.DEFAULT_METHOD_WHITELIST", "Retry.DEFAULT_ALLOWED_METHODS", U3,
    "from urllib3.util.retry import Retry\n\nmethods = Retry.⟦DEFAULT_METHOD_WHITELIST⟧ | {'POST'}\n", "from urllib3.util.retry import Retry\n\nmethods = Retry.⟦DEFAULT_ALLOWED_METHODS⟧ | {'POST'}\n")
add("pyyaml", "5.1", "6.0", "yaml.load without Loader", "yaml.safe_load", "PyYAML 5.1 release notes (yaml.load without Loader deprecated); PyYAML 6.0 release notes (Loader required)",
    "import yaml\n\nwith open('config.yml') as f:\n    config = yaml.⟦load⟧(f)\n", "import yaml\n\nwith open('config.yml') as f:\n    config = yaml.⟦safe_load⟧(f)\n")

OA = "openai-python v1.0.0 migration guide (module-level resources removed; use a client instance)"
add("openai", None, "1.0.0", "openai.ChatCompletion.create", "client.chat.completions.create", OA,
    "import openai\n\nreply = openai.⟦ChatCompletion⟧.create(model='gpt-3.5-turbo', messages=messages)\n",
    "from openai import OpenAI\n\nclient = OpenAI()\nreply = client.chat.⟦completions⟧.create(model='gpt-3.5-turbo', messages=messages)\n", old_version="0.28.1")
add("openai", None, "1.0.0", "openai.Completion.create", "client.completions.create", OA,
    "import openai\n\nreply = openai.⟦Completion⟧.create(model='davinci-002', prompt=prompt)\n", "from openai import OpenAI\n\nclient = OpenAI()\nreply = client.⟦completions⟧.create(model='davinci-002', prompt=prompt)\n", old_version="0.28.1")
add("openai", None, "1.0.0", "openai.Embedding.create", "client.embeddings.create", OA,
    "import openai\n\nvectors = openai.⟦Embedding⟧.create(model='text-embedding-ada-002', input=texts)\n", "from openai import OpenAI\n\nclient = OpenAI()\nvectors = client.⟦embeddings⟧.create(model='text-embedding-ada-002', input=texts)\n", old_version="0.28.1")

BS = "Beautiful Soup 4 documentation, 'Method names' (BS3 camelCase names kept only as deprecated aliases)"
add("beautifulsoup4", "4.0.0", None, "Tag.findAll", "Tag.find_all", BS,
    "from bs4 import BeautifulSoup\n\nsoup = BeautifulSoup(html, 'html.parser')\nlinks = soup.⟦findAll⟧('a')\n", "from bs4 import BeautifulSoup\n\nsoup = BeautifulSoup(html, 'html.parser')\nlinks = soup.⟦find_all⟧('a')\n")
add("beautifulsoup4", "4.0.0", None, "Tag.replaceWith", "Tag.replace_with", BS,
    "from bs4 import BeautifulSoup\n\nsoup = BeautifulSoup(html, 'html.parser')\nsoup.b.⟦replaceWith⟧('bold')\n", "from bs4 import BeautifulSoup\n\nsoup = BeautifulSoup(html, 'html.parser')\nsoup.b.⟦replace_with⟧('bold')\n")
add("transformers", "4.41.0", None, "TrainingArguments(evaluation_strategy=...)", "TrainingArguments(eval_strategy=...)", "Transformers v4.41.0 release notes (evaluation_strategy renamed to eval_strategy)",
    "from transformers import TrainingArguments\n\nargs = TrainingArguments(output_dir='out', ⟦evaluation_strategy⟧='epoch')\n", "from transformers import TrainingArguments\n\nargs = TrainingArguments(output_dir='out', ⟦eval_strategy⟧='epoch')\n")
add("jax", "0.4.26", None, "jax.tree_map", "jax.tree.map", "JAX 0.4.26 changelog (jax.tree_map deprecated for jax.tree.map / jax.tree_util.tree_map)",
    "import jax\n\nscaled = jax.⟦tree_map⟧(lambda p: p * 0.5, params)\n", "import jax\n\nscaled = jax.tree.⟦map⟧(lambda p: p * 0.5, params)\n")
add("jax", "0.2.25", None, "jax.experimental.stax", "jax.example_libraries.stax", "JAX 0.2.25 changelog (jax.experimental.stax moved to jax.example_libraries.stax)",
    "from jax.⟦experimental⟧ import stax\n\ninit_fn, apply_fn = stax.serial(stax.Dense(128), stax.Relu)\n", "from jax.⟦example_libraries⟧ import stax\n\ninit_fn, apply_fn = stax.serial(stax.Dense(128), stax.Relu)\n")

# Python standard library ("python", versions are CPython releases; reference = "What's New in Python X.Y").
W = "What's New in Python {}"
add("python", "3.3", "3.10", "collections.Mapping", "collections.abc.Mapping", W.format("3.3") + " (ABCs moved to collections.abc); " + W.format("3.10") + " (aliases removed)",
    "import collections\n\ndef is_mapping(obj):\n    return isinstance(obj, collections.⟦Mapping⟧)\n", "import collections.abc\n\ndef is_mapping(obj):\n    return isinstance(obj, collections.abc.⟦Mapping⟧)\n")
add("python", "3.3", "3.10", "collections.Iterable", "collections.abc.Iterable", W.format("3.3") + " (ABCs moved to collections.abc); " + W.format("3.10") + " (aliases removed)",
    "import collections\n\ndef flatten(items):\n    for x in items:\n        if isinstance(x, collections.⟦Iterable⟧) and not isinstance(x, str):\n            yield from flatten(x)\n",
    "import collections.abc\n\ndef flatten(items):\n    for x in items:\n        if isinstance(x, collections.abc.⟦Iterable⟧) and not isinstance(x, str):\n            yield from flatten(x)\n")
add("python", "3.3", "3.10", "collections.MutableMapping", "collections.abc.MutableMapping", W.format("3.3") + " (ABCs moved to collections.abc); " + W.format("3.10") + " (aliases removed)",
    "import collections\n\nclass Registry(collections.⟦MutableMapping⟧):\n    pass\n", "import collections.abc\n\nclass Registry(collections.abc.⟦MutableMapping⟧):\n    pass\n")
add("python", "3.10", None, "asyncio.get_event_loop (no running loop)", "asyncio.run", W.format("3.10") + " (get_event_loop deprecation warning without a running loop); " + W.format("3.12"),
    "import asyncio\n\nloop = asyncio.⟦get_event_loop⟧()\nloop.run_until_complete(main())\n", "import asyncio\n\nasyncio.⟦run⟧(main())\n")
add("python", "3.8", "3.11", "asyncio.coroutine", "async def", W.format("3.8") + " (@asyncio.coroutine deprecated); " + W.format("3.11") + " (removed)",
    "import asyncio\n\n@asyncio.⟦coroutine⟧\ndef fetch():\n    yield from asyncio.sleep(1)\n", "import asyncio\n\n⟦async⟧ def fetch():\n    await asyncio.sleep(1)\n")
add("python", "3.7", "3.9", "asyncio.Task.all_tasks", "asyncio.all_tasks", W.format("3.7") + " (Task.all_tasks deprecated); " + W.format("3.9") + " (removed)",
    "import asyncio\n\npending = asyncio.Task.⟦all_tasks⟧()\n", "import asyncio\n\npending = asyncio.⟦all_tasks⟧()\n")
add("python", "3.12", None, "datetime.datetime.utcnow", "datetime.datetime.now(datetime.timezone.utc)", W.format("3.12") + " (utcnow and utcfromtimestamp deprecated)",
    "from datetime import datetime\n\ncreated_at = datetime.⟦utcnow⟧()\n", "from datetime import datetime, timezone\n\ncreated_at = datetime.⟦now⟧(timezone.utc)\n")
add("python", "3.12", None, "datetime.datetime.utcfromtimestamp", "datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc)", W.format("3.12") + " (utcnow and utcfromtimestamp deprecated)",
    "from datetime import datetime\n\nwhen = datetime.⟦utcfromtimestamp⟧(ts)\n", "from datetime import datetime, timezone\n\nwhen = datetime.⟦fromtimestamp⟧(ts, tz=timezone.utc)\n")
UT = W.format("3.2") + " (unittest method aliases deprecated); " + W.format("3.12") + " (aliases removed)"
UTC = "import unittest\n\nclass TestMath(unittest.TestCase):\n    def test_add(self):\n"
add("python", "3.2", "3.12", "unittest.TestCase.assertEquals", "unittest.TestCase.assertEqual", UT, UTC + "        self.⟦assertEquals⟧(1 + 1, 2)\n", UTC + "        self.⟦assertEqual⟧(1 + 1, 2)\n")
add("python", "3.2", "3.12", "unittest.TestCase.assertRegexpMatches", "unittest.TestCase.assertRegex", UT, UTC + "        self.⟦assertRegexpMatches⟧(str(1 + 1), r'\\d')\n", UTC + "        self.⟦assertRegex⟧(str(1 + 1), r'\\d')\n")
add("python", "3.2", "3.12", "unittest.TestCase.assertRaisesRegexp", "unittest.TestCase.assertRaisesRegex", UT,
    UTC + "        with self.⟦assertRaisesRegexp⟧(ZeroDivisionError, 'division'):\n            1 / 0\n", UTC + "        with self.⟦assertRaisesRegex⟧(ZeroDivisionError, 'division'):\n            1 / 0\n")
add("python", "3.1", "3.12", "unittest.TestCase.failUnless", "unittest.TestCase.assertTrue", UT, UTC + "        self.⟦failUnless⟧(1 + 1 == 2)\n", UTC + "        self.⟦assertTrue⟧(1 + 1 == 2)\n")
add("python", "3.11", "3.13", "unittest.makeSuite", "unittest.TestLoader.loadTestsFromTestCase", W.format("3.11") + " (makeSuite deprecated); " + W.format("3.13") + " (removed)",
    "import unittest\n\nsuite = unittest.⟦makeSuite⟧(TestMath)\n", "import unittest\n\nsuite = unittest.TestLoader().⟦loadTestsFromTestCase⟧(TestMath)\n")
add("python", "3.0", "3.11", "inspect.getargspec", "inspect.getfullargspec / inspect.signature", W.format("3.11") + " (getargspec removed)",
    "import inspect\n\nspec = inspect.⟦getargspec⟧(func)\n", "import inspect\n\nspec = inspect.⟦getfullargspec⟧(func)\n")
add("python", "3.4", "3.12", "imp.reload", "importlib.reload", W.format("3.4") + " (imp deprecated); " + W.format("3.12") + " (imp removed)",
    "import imp\n\nimp.⟦reload⟧(config)\n", "import importlib\n\nimportlib.⟦reload⟧(config)\n")
add("python", "3.10", "3.12", "distutils.version.LooseVersion", "packaging.version.Version", W.format("3.10") + " (distutils deprecated, PEP 632); " + W.format("3.12") + " (distutils removed)",
    "from distutils.version import ⟦LooseVersion⟧\n\nok = LooseVersion(current) >= LooseVersion('1.2')\n", "from packaging.version import ⟦Version⟧\n\nok = Version(current) >= Version('1.2')\n")
add("python", "3.10", "3.12", "distutils.spawn.find_executable", "shutil.which", W.format("3.10") + " (distutils deprecated, PEP 632); " + W.format("3.12") + " (distutils removed)",
    "from distutils.spawn import ⟦find_executable⟧\n\ngit = find_executable('git')\n", "from shutil import ⟦which⟧\n\ngit = which('git')\n")
add("python", None, "3.9", "threading.Thread.isAlive", "threading.Thread.is_alive", W.format("3.9") + " (Thread.isAlive removed)",
    "import threading\n\nworker = threading.Thread(target=run)\nworker.start()\nwhile worker.⟦isAlive⟧():\n    worker.join(0.1)\n",
    "import threading\n\nworker = threading.Thread(target=run)\nworker.start()\nwhile worker.⟦is_alive⟧():\n    worker.join(0.1)\n", old_version="3.8")
add("python", "3.10", None, "threading.currentThread", "threading.current_thread", W.format("3.10") + " (camelCase threading aliases deprecated)",
    "import threading\n\nname = threading.⟦currentThread⟧().name\n", "import threading\n\nname = threading.⟦current_thread⟧().name\n")
add("python", "3.10", None, "threading.Thread.setDaemon", "threading.Thread.daemon", W.format("3.10") + " (camelCase threading aliases deprecated)",
    "import threading\n\nworker = threading.Thread(target=run)\nworker.⟦setDaemon⟧(True)\n", "import threading\n\nworker = threading.Thread(target=run)\nworker.⟦daemon⟧ = True\n")
add("python", "3.10", None, "threading.Event.isSet", "threading.Event.is_set", W.format("3.10") + " (camelCase threading aliases deprecated)",
    "import threading\n\nstop = threading.Event()\nif stop.⟦isSet⟧():\n    shutdown()\n", "import threading\n\nstop = threading.Event()\nif stop.⟦is_set⟧():\n    shutdown()\n")
add("python", "3.7", "3.12", "ssl.wrap_socket", "ssl.SSLContext.wrap_socket", W.format("3.7") + " (ssl.wrap_socket deprecated); " + W.format("3.12") + " (removed)",
    "import socket, ssl\n\nsock = socket.create_connection(('example.org', 443))\ntls = ssl.⟦wrap_socket⟧(sock)\n",
    "import socket, ssl\n\nsock = socket.create_connection(('example.org', 443))\ntls = ssl.create_default_context().⟦wrap_socket⟧(sock, server_hostname='example.org')\n")
add("python", "3.2", "3.9", "xml.etree.ElementTree.Element.getchildren", "list(element)", W.format("3.9") + " (getchildren and getiterator removed)",
    "import xml.etree.ElementTree as ET\n\nroot = ET.parse('feed.xml').getroot()\nfor child in root.⟦getchildren⟧():\n    print(child.tag)\n",
    "import xml.etree.ElementTree as ET\n\nroot = ET.parse('feed.xml').getroot()\nfor child in ⟦list⟧(root):\n    print(child.tag)\n")
add("python", "3.2", "3.9", "xml.etree.ElementTree.Element.getiterator", "xml.etree.ElementTree.Element.iter", W.format("3.9") + " (getchildren and getiterator removed)",
    "import xml.etree.ElementTree as ET\n\nroot = ET.parse('feed.xml').getroot()\nitems = root.⟦getiterator⟧('item')\n", "import xml.etree.ElementTree as ET\n\nroot = ET.parse('feed.xml').getroot()\nitems = root.⟦iter⟧('item')\n")
add("python", "3.1", "3.9", "base64.encodestring", "base64.encodebytes", W.format("3.9") + " (encodestring and decodestring removed)",
    "import base64\n\nencoded = base64.⟦encodestring⟧(payload)\n", "import base64\n\nencoded = base64.⟦encodebytes⟧(payload)\n")
add("python", "3.1", "3.9", "base64.decodestring", "base64.decodebytes", W.format("3.9") + " (encodestring and decodestring removed)",
    "import base64\n\nraw = base64.⟦decodestring⟧(encoded)\n", "import base64\n\nraw = base64.⟦decodebytes⟧(encoded)\n")
add("python", "3.5", "3.8", "platform.linux_distribution", "platform.freedesktop_os_release", W.format("3.8") + " (platform.dist and linux_distribution removed); " + W.format("3.10") + " (freedesktop_os_release added)",
    "import platform\n\ndistro_name = platform.⟦linux_distribution⟧()[0]\n", "import platform\n\ndistro_name = platform.⟦freedesktop_os_release⟧()['NAME']\n")
add("python", "3.3", "3.8", "time.clock", "time.perf_counter", W.format("3.3") + " (time.clock deprecated); " + W.format("3.8") + " (removed)",
    "import time\n\nstart = time.⟦clock⟧()\nrun()\nelapsed = time.clock() - start\n", "import time\n\nstart = time.⟦perf_counter⟧()\nrun()\nelapsed = time.perf_counter() - start\n")
add("python", "3.2", "3.8", "cgi.escape", "html.escape", W.format("3.8") + " (cgi.escape removed)",
    "import cgi\n\nsafe = cgi.⟦escape⟧(comment)\n", "import html\n\nsafe = html.⟦escape⟧(comment)\n")
add("python", "3.2", "3.9", "array.array.tostring", "array.array.tobytes", W.format("3.9") + " (array tostring and fromstring removed)",
    "from array import array\n\nbuf = array('i', [1, 2, 3]).⟦tostring⟧()\n", "from array import array\n\nbuf = array('i', [1, 2, 3]).⟦tobytes⟧()\n")
add("python", "3.5", "3.9", "fractions.gcd", "math.gcd", W.format("3.5") + " (fractions.gcd deprecated); " + W.format("3.9") + " (removed)",
    "import fractions\n\ndivisor = fractions.⟦gcd⟧(12, 18)\n", "import math\n\ndivisor = math.⟦gcd⟧(12, 18)\n")
add("python", "3.2", "3.12", "configparser.SafeConfigParser", "configparser.ConfigParser", W.format("3.2") + " (SafeConfigParser renamed); " + W.format("3.12") + " (removed)",
    "import configparser\n\nparser = configparser.⟦SafeConfigParser⟧()\nparser.read('setup.cfg')\n", "import configparser\n\nparser = configparser.⟦ConfigParser⟧()\nparser.read('setup.cfg')\n")
add("python", "3.2", "3.12", "configparser.ConfigParser.readfp", "configparser.ConfigParser.read_file", W.format("3.2") + " (readfp deprecated); " + W.format("3.12") + " (removed)",
    "import configparser\n\nparser = configparser.ConfigParser()\nwith open('app.ini') as f:\n    parser.⟦readfp⟧(f)\n", "import configparser\n\nparser = configparser.ConfigParser()\nwith open('app.ini') as f:\n    parser.⟦read_file⟧(f)\n")
add("python", "2.3", None, "tempfile.mktemp", "tempfile.mkstemp", "Python tempfile documentation (mktemp deprecated since 2.3: race condition)",
    "import tempfile\n\npath = tempfile.⟦mktemp⟧(suffix='.log')\n", "import tempfile\n\nfd, path = tempfile.⟦mkstemp⟧(suffix='.log')\n")
add("python", "3.3", None, "logging.Logger.warn", "logging.Logger.warning", "Python logging documentation (Logger.warn deprecated since 3.3)",
    "import logging\n\nlogger = logging.getLogger(__name__)\nlogger.⟦warn⟧('disk almost full')\n", "import logging\n\nlogger = logging.getLogger(__name__)\nlogger.⟦warning⟧('disk almost full')\n")
add("python", "3.12", None, "pkgutil.find_loader", "importlib.util.find_spec", W.format("3.12") + " (pkgutil.find_loader and get_loader deprecated)",
    "import pkgutil\n\nhas_numpy = pkgutil.⟦find_loader⟧('numpy') is not None\n", "import importlib.util\n\nhas_numpy = importlib.util.⟦find_spec⟧('numpy') is not None\n")
add("python", "3.11", None, "locale.getdefaultlocale", "locale.getlocale", W.format("3.11") + " (getdefaultlocale deprecated)",
    "import locale\n\nlang, encoding = locale.⟦getdefaultlocale⟧()\n", "import locale\n\nlang, encoding = locale.⟦getlocale⟧()\n")
add("python", "3.3", None, "abc.abstractproperty", "property + abc.abstractmethod", W.format("3.3") + " (abstractproperty deprecated)",
    "import abc\n\nclass Shape(abc.ABC):\n    @abc.⟦abstractproperty⟧\n    def area(self):\n        ...\n", "import abc\n\nclass Shape(abc.ABC):\n    @property\n    @abc.⟦abstractmethod⟧\n    def area(self):\n        ...\n")
add("python", "3.8", None, "ast.Num", "ast.Constant", W.format("3.8") + " (ast.Num, ast.Str and friends deprecated for ast.Constant)",
    "import ast\n\ndef is_number(node):\n    return isinstance(node, ast.⟦Num⟧)\n", "import ast\n\ndef is_number(node):\n    return isinstance(node, ast.⟦Constant⟧) and isinstance(node.value, (int, float))\n")
add("python", "3.3", "3.9", "xml.etree.cElementTree", "xml.etree.ElementTree", W.format("3.3") + " (cElementTree deprecated); " + W.format("3.9") + " (removed)",
    "import xml.etree.⟦cElementTree⟧ as ET\n\ntree = ET.parse('data.xml')\n", "import xml.etree.⟦ElementTree⟧ as ET\n\ntree = ET.parse('data.xml')\n")
add("python", "3.4", "3.12", "importlib.find_loader", "importlib.util.find_spec", W.format("3.4") + " (find_loader deprecated); " + W.format("3.12") + " (removed)",
    "import importlib\n\nloader = importlib.⟦find_loader⟧('yaml')\n", "import importlib.util\n\nspec = importlib.util.⟦find_spec⟧('yaml')\n")
add("python", "3.2", "3.9", "sys.setcheckinterval", "sys.setswitchinterval", W.format("3.9") + " (sys.getcheckinterval and setcheckinterval removed)",
    "import sys\n\nsys.⟦setcheckinterval⟧(1000)\n", "import sys\n\nsys.⟦setswitchinterval⟧(0.005)\n")


def record(pkg, version, code_marked, status, ident, facts):
    matches = list(MARK.finditer(code_marked))
    if len(matches) != 1:
        raise SystemExit(f"{ident}: expected exactly one ⟦answer⟧ marker, found {len(matches)}")
    m = matches[0]
    answer = m.group(1)
    code = code_marked[:m.start()] + answer + code_marked[m.end():]
    masked = code_marked[:m.start()] + "<token_mask>" + code_marked[m.end():]
    line_start = masked.rfind("\n", 0, m.start()) + 1
    line_end = masked.find("\n", m.start())
    return {"id": ident, "dependency": pkg, "version": f"=={version}", "status": status,
            "description": f"{'Uses the deprecated' if status == 'deprecated' else 'Uses the current replacement of'} "
                           f"{facts['deprecated_api']}",
            "code": code, "masked_code": masked, "masked_line": masked[line_start:line_end if line_end >= 0 else None],
            "answer": answer, "granularity": "token", "language": "python", **facts}


def build() -> list[dict]:
    out, counters = [], {}
    for pkg, dep, rem, api, repl, ref, old, new, old_version in C:
        n = counters[pkg] = counters.get(pkg, 0) + 1
        facts = {"deprecated_api": api, "replacement": repl, "deprecated_in": dep, "removed_in": rem, "reference": ref}
        old_v = old_version or dep
        new_v = rem or dep
        if old_v is None or new_v is None:
            raise SystemExit(f"{pkg} #{n}: needs old_version")
        out.append(record(pkg, old_v, old, "deprecated", f"{pkg}-{n:03d}-deprecated", facts))
        out.append(record(pkg, new_v, new, "current", f"{pkg}-{n:03d}-current", facts))
    return out


if __name__ == "__main__":
    data = build()
    doc = {"name": "code-unlearn-bench curated deprecated APIs", "version": "1.0",
           "licence": "MIT (written by the code-unlearn-bench authors)", "count": len(data), "data": data}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(data)} snippets over {len({d['dependency'] for d in data})} packages to {OUT}")
