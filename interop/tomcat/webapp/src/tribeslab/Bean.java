package tribeslab;

import java.io.Serializable;

/** A custom Serializable class of the web app: replicated sessions carry it by class name. */
public class Bean implements Serializable {
    private static final long serialVersionUID = 1L;

    private final String text;
    private final int count;

    public Bean(String text, int count) {
        this.text = text;
        this.count = count;
    }

    public String getText() {
        return text;
    }

    public int getCount() {
        return count;
    }

    @Override
    public String toString() {
        return "Bean{text=" + text + ", count=" + count + "}";
    }
}
