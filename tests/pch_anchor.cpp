// Compiles the test programs' shared precompiled header (tests/CMakeLists.txt, target vae_test_pch); no code.
