// Strict XML reading on libxml2 (see xml.h).
#include "providers/aws/xml.h"

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <memory>
#include <mutex>

namespace pp::providers::aws {
namespace {

struct DocFree {
  void operator()(xmlDocPtr d) const { xmlFreeDoc(d); }
};

// libxml2 reports errors through a global callback by default; keep them off stderr.
void silentError(void*, const char*, ...) {}

Status convert(xmlNodePtr node, XmlElement& out, int depth, size_t& count,
               const XmlLimits& limits) {
  if (depth > limits.maxDepth)
    return fail(Code::kResourceExhausted,
                "XML nested deeper than " + std::to_string(limits.maxDepth));
  if (++count > limits.maxElements)
    return fail(Code::kResourceExhausted, "XML has too many elements");
  out.name = reinterpret_cast<const char*>(node->name);
  for (xmlNodePtr c = node->children; c != nullptr; c = c->next) {
    switch (c->type) {
      case XML_ELEMENT_NODE: {
        out.children.emplace_back();
        if (auto st = convert(c, out.children.back(), depth + 1, count, limits); !st) return st;
        break;
      }
      case XML_TEXT_NODE:
      case XML_CDATA_SECTION_NODE:
        if (c->content) out.text += reinterpret_cast<const char*>(c->content);
        break;
      case XML_COMMENT_NODE:
      case XML_PI_NODE:
        break;
      default:
        return fail(Code::kInvalidArgument,
                    "XML contains an unsupported node (entity reference or similar)");
    }
  }
  return {};
}

}  // namespace

const XmlElement* XmlElement::child(std::string_view n) const {
  for (const auto& c : children)
    if (c.name == n) return &c;
  return nullptr;
}

const XmlElement* XmlElement::find(std::initializer_list<std::string_view> path) const {
  const XmlElement* e = this;
  for (auto n : path) {
    e = e->child(n);
    if (e == nullptr) return nullptr;
  }
  return e;
}

std::string XmlElement::childText(std::string_view n) const {
  const XmlElement* c = child(n);
  return c ? c->text : std::string();
}

std::vector<const XmlElement*> XmlElement::all(std::string_view n) const {
  std::vector<const XmlElement*> out;
  for (const auto& c : children)
    if (c.name == n) out.push_back(&c);
  return out;
}

Result<XmlElement> parseXml(std::string_view document, const XmlLimits& limits) {
  static std::once_flag init;
  std::call_once(init, [] { xmlInitParser(); });
  if (document.size() > limits.maxBytes) {
    return fail(Code::kResourceExhausted,
                "XML document larger than " + std::to_string(limits.maxBytes) + " bytes");
  }
  if (document.find("<!DOCTYPE") != std::string_view::npos ||
      document.find("<!ENTITY") != std::string_view::npos) {
    return fail(Code::kInvalidArgument, "XML with a document type declaration is refused");
  }
  xmlSetGenericErrorFunc(nullptr, silentError);
  std::unique_ptr<xmlDoc, DocFree> doc(
      xmlReadMemory(document.data(), static_cast<int>(document.size()), "response.xml", nullptr,
                    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA));
  if (!doc) {
    const xmlError* e = xmlGetLastError();
    std::string why = e && e->message ? e->message : "not well-formed";
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    xmlResetLastError();
    return fail(Code::kInvalidArgument, "malformed XML: " + why);
  }
  if (doc->intSubset != nullptr || doc->extSubset != nullptr) {
    return fail(Code::kInvalidArgument, "XML with a document type declaration is refused");
  }
  xmlNodePtr root = xmlDocGetRootElement(doc.get());
  if (root == nullptr) return fail(Code::kInvalidArgument, "malformed XML: no root element");
  XmlElement out;
  size_t count = 0;
  if (auto st = convert(root, out, 1, count, limits); !st) return fail(st.error());
  return out;
}

}  // namespace pp::providers::aws
