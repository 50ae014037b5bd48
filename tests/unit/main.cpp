// Catch2 main for the wordlm test suite.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
