// What the store ports define beyond their interfaces.
#include "atdesk/store/blob_store.hpp"

namespace atdesk::store {

std::string_view to_string(BlobKind k) {
  switch (k) {
    case BlobKind::original:
      return "original";
    case BlobKind::printable:
      return "printable";
    case BlobKind::preview:
      return "preview";
  }
  return "original";
}

}  // namespace atdesk::store
