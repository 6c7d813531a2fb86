// A FIFO of objects linked through one of their own pointer fields (no
// allocation): the fault queues of handler threads and the call queues of
// IPC endpoints. Not synchronised: its owner's lock guards it.
#pragma once

namespace virtue {

template <typename T, T* T::*Next> class IntrusiveQueue {
  public:
    bool empty() const { return head_ == nullptr; }
    T* front() const { return head_; }

    void push_back(T& x) {
        x.*Next = nullptr;
        if (tail_) tail_->*Next = &x;
        else head_ = &x;
        tail_ = &x;
    }
    void push_front(T& x) {
        x.*Next = head_;
        head_ = &x;
        if (!tail_) tail_ = &x;
    }
    // The first object, taken off (nullptr when empty).
    T* pop() {
        T* x = head_;
        if (!x) return nullptr;
        head_ = x->*Next;
        if (!head_) tail_ = nullptr;
        x->*Next = nullptr;
        return x;
    }
    // Takes x off wherever it is; false if it was not queued. Linear: the
    // queues are short (at most one entry per thread of a domain, or per
    // caller of an endpoint).
    bool remove(T& x) {
        T* prev = nullptr;
        for (T* p = head_; p; prev = p, p = p->*Next) {
            if (p != &x) continue;
            if (prev) prev->*Next = x.*Next;
            else head_ = x.*Next;
            if (tail_ == &x) tail_ = prev;
            x.*Next = nullptr;
            return true;
        }
        return false;
    }

  private:
    T* head_ = nullptr;
    T* tail_ = nullptr;
};

} // namespace virtue
