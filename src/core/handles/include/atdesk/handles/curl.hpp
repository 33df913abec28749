// libcurl handles owned by std::unique_ptr: an easy handle and a header list.
#pragma once

#include <curl/curl.h>

#include <memory>

namespace atdesk::handles {

struct CurlEasyCleanup {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
struct CurlSlistFree {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using CurlPtr = std::unique_ptr<CURL, CurlEasyCleanup>;
using CurlSlistPtr = std::unique_ptr<curl_slist, CurlSlistFree>;

// Appends `header` to `list`, keeping ownership in `list`; false when libcurl is out of memory
// (the list is then unchanged).
inline bool append_header(CurlSlistPtr& list, const char* header) {
  curl_slist* longer = curl_slist_append(list.get(), header);
  if (longer == nullptr) return false;
  (void)list.release();  // curl_slist_append returned the same list (now one longer) or a new head
  list.reset(longer);
  return true;
}

}  // namespace atdesk::handles
