"$LM" frobnicate
