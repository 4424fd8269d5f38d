// csi-controller-wrapper: see src/csi/wrapper_main.h and docs/csi.md.
#include "csi/wrapper_main.h"

int main(int argc, char** argv) {
  return pp::csi::wrapperMain(pp::csi::WrapperKind::kController, argc, argv);
}
