from collections import OrderedDcit
