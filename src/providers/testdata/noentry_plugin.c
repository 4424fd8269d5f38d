/* A shared object without the plugin entry point, for the loader's dlsym failure test. */
__attribute__((visibility("default"))) int testcloud_not_a_plugin(void) {
  return 42;
}
